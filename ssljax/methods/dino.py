"""DINO: self-distillation with no labels, multi-crop, centering and sharpening.

The student (the online network: encoder + `models.DINOHead`) sees every crop — 2 global
crops and N local crops of a smaller resolution, each resolution through the encoder as
one batch, then the head on all of them at once (the authors' `MultiCropWrapper`); the
teacher (the EMA of the student, `state.target_params`) sees only the 2 global crops.
The loss is `ssljax.losses.dino` over all (teacher crop i, student crop j ≠ i) pairs:
teacher targets `softmax((t − c) / τ_t)` with the center c kept in `state.extra["center"]`
(EMA momentum 0.9 of the global-batch mean teacher logits,
`losses.dino_center_update(..., axis_name="data")`), student `log_softmax(s / τ_s)`.

Schedules (all functions of the step, so they resume exactly):
  - teacher temperature: linear from `loss.warmup_teacher_temp` (0.04) to
    `loss.teacher_temp` (0.07) over `loss.warmup_teacher_temp_epochs` (30) epochs, per
    epoch as the authors' `np.linspace` does, then constant;
  - teacher EMA τ: 1 − (1 − τ_base)(cos(πk/K) + 1)/2, τ_base = `ema.tau_base` (0.996);
  - the last (weight-normalised) layer is frozen during the first
    `head.freeze_last_layer_epochs` (1) epochs as the authors' `cancel_gradients_last_layer`
    freezes it (`.grad = None`): no step, no weight decay, no optimizer state; it has an
    optimizer of its own (`Method.late_start`) whose step count starts when it is
    unfrozen, so its first AdamW steps are a fresh AdamW's (bias correction from 1), as
    PyTorch's per-parameter state gives.
Both the teacher temperature and τ are logged (`teacher_temp`, `tau`), with
`embedding_std` of the student's outputs and `teacher_entropy` (mean entropy of the
teacher's sharpened distribution: log K when uniform, 0 when one-hot — the two collapse
modes DINO balances with centering and sharpening).

Multi-crop (`ssljax.methods.multicrop`): the views are the preset's 2 global crops plus
`augment.num_local` local crops; each resolution goes through the encoder as one batch.
The teacher is an `EMATarget` of the encoder and head (`ssljax.methods.target`: in
training mode only when it has BatchNorm, with its own running averages).

Reference: Caron, Touvron, Misra, Jégou, Mairal, Bojanowski, Joulin, "Emerging Properties
in Self-Supervised Vision Transformers", ICCV 2021 (arXiv:2104.14294), Algorithm 1,
§3.1, Appendix; the authors' `main_dino.py` (`DINOLoss`, `MultiCropWrapper`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ssljax import losses, models
from ssljax.errors import ConfigError
from ssljax.methods.base import apply_model, build_encoder, compute_dtype
from ssljax.methods.multicrop import MultiCropModel, split_crops
from ssljax.methods.target import EMAMethod, EMATarget, ema_defaults
from ssljax.parallel import DATA_AXIS


def teacher_temperature(
    step: int | jax.Array,
    steps_per_epoch: int,
    *,
    warmup_temp: float = 0.04,
    final_temp: float = 0.07,
    warmup_epochs: int = 30,
) -> jax.Array:
    """DINO's teacher temperature at an optimizer step.

    The authors' schedule is per epoch, `linspace(warmup_temp, final_temp, W)` for the
    first W epochs, then `final_temp`: epoch e < W gets
    `warmup_temp + (final_temp − warmup_temp)·e/(W − 1)` (reaching `final_temp` at
    e = W − 1; W = 1 gives `warmup_temp` for epoch 0), W = 0 means `final_temp` throughout.

    Args:
      step: 0-based optimizer step (int or traced int array).
      steps_per_epoch: optimizer steps per epoch (> 0).
      warmup_temp: temperature at epoch 0 (0.04).
      final_temp: temperature after the warm-up (0.04 default in the code, 0.07 in the
        paper's ViT-S/16 runs).
      warmup_epochs: W, epochs of linear warm-up (30 in the paper).

    Returns:
      float32 scalar.

    Reference:
      Caron et al., DINO, ICCV 2021, §3.1/Appendix ("linear warm-up from 0.04 to 0.07
      during the first 30 epochs") and the authors' `DINOLoss.teacher_temp_schedule`.
    """
    epoch = jnp.asarray(step, jnp.int32) // max(1, int(steps_per_epoch))
    if warmup_epochs <= 0:
        return jnp.asarray(final_temp, jnp.float32)
    frac = epoch.astype(jnp.float32) / max(1, warmup_epochs - 1)
    warm = warmup_temp + (final_temp - warmup_temp) * frac
    return jnp.where(epoch < warmup_epochs, warm, final_temp).astype(jnp.float32)


def build_dino_head(config, axis_name: str | None) -> models.DINOHead:
    """A `DINOHead` from `config.head`.

    `head.hidden_dims` gives the MLP before the bottleneck: `(2048, 2048)` is the paper's
    3-layer head (nlayers = len + 1 = 3, hidden size 2048); all entries must be equal.
    Other keys: `bottleneck_dim` (256), `out_dim` K (65536), `use_bn` (False),
    `norm_last_layer` (True).
    """
    h = config.head
    hidden = tuple(h.hidden_dims)
    if len(set(hidden)) > 1:
        raise ConfigError(
            f"head.hidden_dims={hidden}: DINO's head uses one hidden size; e.g. "
            "--config.head.hidden_dims='(2048, 2048)'"
        )
    return models.DINOHead(
        out_dim=h.out_dim,
        hidden_dim=hidden[0] if hidden else 1,
        bottleneck_dim=h.bottleneck_dim,
        nlayers=len(hidden) + 1,
        use_bn=h.use_bn,
        norm_last_layer=h.norm_last_layer,
        dtype=compute_dtype(config),
        bn_axis_name=axis_name,
    )


class DINO(EMAMethod):
    """DINO with an EMA teacher, multi-crop, centering and a teacher-temperature schedule.

    Config keys: `head` (see `build_dino_head`; plus `freeze_last_layer_epochs`), `loss`
    (`student_temp`, `teacher_temp`, `warmup_teacher_temp`, `warmup_teacher_temp_epochs`,
    `center_momentum`), `ema.tau_base`, `augment` (`preset`, `num_local`, `local_size`,
    `crop_scale`, `local_crop_scale`).
    """

    name = "dino"
    defaults = {
        "head.hidden_dims": (2048, 2048), "head.out_dim": 65536, "head.use_bn": False,
        "head.bottleneck_dim": 256, "head.norm_last_layer": True,
        "head.freeze_last_layer_epochs": 1,
        "loss.student_temp": 0.1, "loss.teacher_temp": 0.07, "loss.warmup_teacher_temp": 0.04,
        "loss.warmup_teacher_temp_epochs": 30, "loss.center_momentum": 0.9,
        **ema_defaults(0.996, "cosine"),
        "augment.preset": "dino", "augment.num_local": 8,
    }
    ignores = ("head.last_bn", "head.last_bn_affine", "head.last_bn_center",
               "head.last_bias")
    num_global = 2

    def build_model(self):
        return MultiCropModel(encoder=build_encoder(self.config, self.axis),
                              head=build_dino_head(self.config, self.axis))

    def build_target(self):
        return EMATarget(self.config, self.model, keys=("encoder", "head"), axis_name=self.axis)

    def init_extra(self, feature_dims):
        return {"center": jnp.zeros((1, feature_dims["proj"]), jnp.float32)}

    def _freeze_steps(self) -> int:
        return int(round(self.config.head.freeze_last_layer_epochs * self.steps_per_epoch))

    def late_start(self):
        steps = self._freeze_steps()
        return {"last_layer": steps} if steps > 0 else {}

    def frozen(self, step):
        steps = self._freeze_steps()
        return {"last_layer": step < steps} if steps > 0 else {}

    def teacher_temp(self, step: jax.Array) -> jax.Array:
        """The teacher temperature at 0-based `step` (see `teacher_temperature`)."""
        c = self.config.loss
        return teacher_temperature(
            step, self.steps_per_epoch, warmup_temp=c.warmup_teacher_temp,
            final_temp=c.teacher_temp, warmup_epochs=int(c.warmup_teacher_temp_epochs),
        )

    def loss(self, params, state, views, rng):
        n, ng, step = views[0].shape[0], self.num_global, state.step
        # Different devices draw different stochastic-depth masks.
        rng = jax.random.fold_in(rng, lax.axis_index(DATA_AXIS))
        s_out, batch_stats = apply_model(self.model, params, state.batch_stats,
                                         list(views), rngs={"dropout": rng})
        students = split_crops(s_out["proj"], n, len(views))
        t_out, t_stats = self.target.apply(state.target_params, state.target_batch_stats,
                                           list(views[:ng]))
        teachers = split_crops(t_out["proj"], n, ng)

        temp = self.teacher_temp(step)
        center = state.extra["center"]
        local = losses.dino(students, teachers, center,
                            student_temp=self.config.loss.student_temp, teacher_temp=temp)
        t_prob = jax.nn.softmax((t_out["proj"] - center) / temp, axis=-1)
        entropy = jnp.sum(jax.scipy.special.entr(t_prob), axis=-1)
        metrics = {"teacher_temp": temp,
                   "teacher_entropy": lax.pmean(jnp.mean(entropy), DATA_AXIS)}
        first = {"features": s_out["features"][:n], "proj": students[0]}
        return lax.pmean(local, DATA_AXIS), self.target_output(
            state, batch_stats, first, self.target.replicate(t_stats), metrics,
            teacher_logits=teachers)

    def after_update(self, state, out):
        center = losses.dino_center_update(
            state.extra["center"], out.carry["teacher_logits"],
            momentum=self.config.loss.center_momentum, axis_name=DATA_AXIS,
        )
        state = super().after_update(state, out)
        return state.replace(extra={**state.extra, "center": center})
