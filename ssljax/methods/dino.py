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
  - the last (weight-normalised) layer gets no gradient during the first
    `head.freeze_last_layer_epochs` (1) epochs.
Both the teacher temperature and τ are logged (`teacher_temp`, `tau`), with
`embedding_std` of the student's outputs and `teacher_entropy` (mean entropy of the
teacher's sharpened distribution: log K when uniform, 0 when one-hot — the two collapse
modes DINO balances with centering and sharpening).

Position embeddings of a ViT are made for the global crops (the first view, which
initialises the model) and interpolated bicubically for the local crops
(`models.interpolate_pos_embed`).

The teacher runs in training mode only when it has BatchNorm (ResNet encoders, or
`head.use_bn`): the authors' teacher is never switched to eval mode, so its BN layers use
batch statistics and update their own running averages, which are kept in
`state.target_batch_stats`. A ViT teacher runs in inference mode (no stochastic depth,
as the authors build the teacher with `drop_path_rate=0`).

Reference: Caron, Touvron, Misra, Jégou, Mairal, Bojanowski, Joulin, "Emerging Properties
in Self-Supervised Vision Transformers", ICCV 2021 (arXiv:2104.14294), Algorithm 1,
§3.1, Appendix; the authors' `main_dino.py` (`DINOLoss`, `MultiCropWrapper`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ssljax import augment, losses, models, optim, parallel
from ssljax.errors import ConfigError
from ssljax.methods.barlowtwins import embedding_std_metric
from ssljax.methods.base import Method, StepOutput, build_encoder, compute_dtype, view_specs
from ssljax.parallel import DATA_AXIS


class MultiCropModel(nn.Module):
    """Encoder + DINO head over crops of several resolutions.

    Called with one array `[N, H, W, C]` (initialisation, evaluation) or a sequence of
    crops; consecutive crops of the same shape go through the encoder as one batch, and
    the head runs once on the features of all crops.

    Returns a dict: `features` `[M, D]` (encoder output of all crops, in order) and
    `proj` `[M, K]` (head logits), M the total number of rows.
    """

    encoder: nn.Module
    head: nn.Module

    @nn.compact
    def __call__(
        self, x: jax.Array | Sequence[jax.Array], train: bool = True
    ) -> dict[str, jax.Array]:
        crops = list(x) if isinstance(x, (list, tuple)) else [x]
        groups: list[list[jax.Array]] = []
        for c in crops:
            if groups and groups[-1][0].shape[1:] == c.shape[1:]:
                groups[-1].append(c)
            else:
                groups.append([c])
        feats = [self.encoder(jnp.concatenate(g, axis=0), train=train) for g in groups]
        h = jnp.concatenate(feats, axis=0).astype(jnp.float32)
        return {"features": h, "proj": self.head(h, train=train).astype(jnp.float32)}


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
    hidden = tuple(h.get("hidden_dims", (2048, 2048)))
    if len(set(hidden)) > 1:
        raise ConfigError(
            f"head.hidden_dims={hidden}: DINO's head uses one hidden size; e.g. "
            "--config.head.hidden_dims='(2048, 2048)'"
        )
    return models.DINOHead(
        out_dim=h.out_dim,
        hidden_dim=hidden[0] if hidden else 1,
        bottleneck_dim=h.get("bottleneck_dim", 256),
        nlayers=len(hidden) + 1,
        use_bn=h.get("use_bn", False),
        norm_last_layer=h.get("norm_last_layer", True),
        dtype=compute_dtype(config),
        bn_axis_name=axis_name,
    )


def _freeze_last_layer(params: Any, frozen: jax.Array) -> Any:
    """`params` whose head's last layer passes no gradient while `frozen` is True."""
    head = params["head"]
    last = jax.tree.map(
        lambda p: jnp.where(frozen, lax.stop_gradient(p), p), head["last_layer"]
    )
    return {**params, "head": {**head, "last_layer": last}}


class DINO(Method):
    """DINO with an EMA teacher, multi-crop, centering and a teacher-temperature schedule.

    Config keys: `head` (see `build_dino_head`; plus `freeze_last_layer_epochs`), `loss`
    (`student_temp`, `teacher_temp`, `warmup_teacher_temp`, `warmup_teacher_temp_epochs`,
    `center_momentum`), `ema.tau_base`, `augment` (`preset` "dino" or "digits",
    `num_local`, `local_size`, and optionally `global_crop_scale`, `local_crop_scale`).
    """

    name = "dino"
    has_target = True
    num_global = 2

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        self.model = MultiCropModel(
            encoder=build_encoder(config, self.axis), head=build_dino_head(config, self.axis)
        )

    # ---------------------------------------------------------------- views

    def views(self, image_size: int) -> tuple[augment.ViewSpec, ...]:
        """2 global crops then `augment.num_local` local crops.

        Preset "dino": `augment.dino_views` (paper numbers). Preset "digits": the digits
        recipe (no flip, no colour) at `image_size` for the global crops and
        `augment.local_size` for the local ones. `augment.global_crop_scale` /
        `augment.local_crop_scale`, when set, replace the crop-area ranges (the ResNet-50
        recipe uses (0.14, 1) and (0.05, 0.14)).
        """
        a = self.config.augment
        num_local = int(a.get("num_local", 6))
        size = a.get("image_size", 0) or image_size
        if a.preset == "digits":
            spec = augment.digits_views(size)[0]
            local_size = a.get("local_size", 0) or max(8, size // 2)
            specs = (spec, spec) + (
                dataclasses.replace(spec, out_size=local_size, crop_scale=(0.2, 0.5)),
            ) * num_local
        elif a.preset == "dino":
            specs = view_specs(self.config, image_size)
        else:
            raise ConfigError(
                f"DINO needs augment.preset 'dino' or 'digits' (multi-crop), got {a.preset!r}"
            )
        scales = (a.get("global_crop_scale", None),) * self.num_global + (
            a.get("local_crop_scale", None),
        ) * (len(specs) - self.num_global)
        return tuple(
            dataclasses.replace(spec, crop_scale=tuple(scale)) if scale else spec
            for spec, scale in zip(specs, scales, strict=True)
        )

    def init_extra(self, feature_dims):
        return {"center": jnp.zeros((1, feature_dims["proj"]), jnp.float32)}

    # ------------------------------------------------------------ schedules

    def teacher_temp(self, step: jax.Array) -> jax.Array:
        """The teacher temperature at 0-based `step` (see `teacher_temperature`)."""
        c = self.config.loss
        return teacher_temperature(
            step,
            self.steps_per_epoch,
            warmup_temp=c.get("warmup_teacher_temp", 0.04),
            final_temp=c.get("teacher_temp", 0.07),
            warmup_epochs=int(c.get("warmup_teacher_temp_epochs", 30)),
        )

    def tau(self, step: jax.Array) -> jax.Array:
        """The teacher EMA decay at 0-based `step` (cosine from `ema.tau_base` to 1)."""
        ema = self.config.get("ema", None)
        base = ema.get("tau_base", 0.996) if ema is not None else 0.996
        return optim.cosine_ema_schedule(step, self.total_steps, base)

    # ------------------------------------------------------------- the step

    def _forward(self, params, batch_stats, crops, *, train: bool, rng=None):
        variables = {"params": params}
        if batch_stats:
            variables["batch_stats"] = batch_stats
        rngs = {"dropout": rng} if rng is not None else None
        if train and batch_stats:
            out, upd = self.model.apply(
                variables, crops, train=True, mutable=["batch_stats"], rngs=rngs
            )
            return out, upd["batch_stats"]
        return self.model.apply(variables, crops, train=train, rngs=rngs), batch_stats

    def loss(self, params, state, views, rng):
        n = views[0].shape[0]
        ng = self.num_global
        step = state.step
        freeze_epochs = self.config.head.get("freeze_last_layer_epochs", 1)
        frozen = step < freeze_epochs * self.steps_per_epoch
        student_params = _freeze_last_layer(params, frozen)

        # Different devices draw different stochastic-depth masks.
        rng = jax.random.fold_in(rng, lax.axis_index(DATA_AXIS))
        s_out, batch_stats = self._forward(
            student_params, state.batch_stats, list(views), train=True, rng=rng
        )
        s_logits = s_out["proj"]
        students = [s_logits[i * n : (i + 1) * n] for i in range(len(views))]

        teacher_bn = bool(state.target_batch_stats)
        t_out, t_stats = self._forward(
            state.target_params, state.target_batch_stats, list(views[:ng]), train=teacher_bn
        )
        t_logits = lax.stop_gradient(t_out["proj"])
        teachers = [t_logits[i * n : (i + 1) * n] for i in range(ng)]

        temp = self.teacher_temp(step)
        center = state.extra["center"]
        local = losses.dino(
            students, teachers, center,
            student_temp=self.config.loss.get("student_temp", 0.1), teacher_temp=temp,
        )
        loss = lax.pmean(local, DATA_AXIS)

        t_prob = jax.nn.softmax((t_logits - center) / temp, axis=-1)
        entropy = jnp.sum(jax.scipy.special.entr(t_prob), axis=-1)
        tau = self.tau(step)
        metrics = {
            "embedding_std": embedding_std_metric(students[0]),
            "teacher_temp": temp,
            "tau": tau,
            "teacher_entropy": lax.pmean(jnp.mean(entropy), DATA_AXIS),
        }
        return loss, StepOutput(
            batch_stats=batch_stats,
            features=s_out["features"][:n],
            embeddings=students[0],
            metrics=metrics,
            carry={"teacher_logits": teachers, "target_batch_stats": t_stats, "tau": tau},
        )

    def after_update(self, state, out):
        carry = out.carry
        target = optim.ema_update(state.target_params, state.params, carry["tau"])
        center = losses.dino_center_update(
            state.extra["center"], carry["teacher_logits"],
            momentum=self.config.loss.get("center_momentum", 0.9), axis_name=DATA_AXIS,
        )
        t_stats = carry["target_batch_stats"]
        if t_stats:
            t_stats = parallel.pmean_tree(t_stats)
        return state.replace(
            target_params=target,
            target_batch_stats=t_stats,
            extra={**state.extra, "center": center},
        )
