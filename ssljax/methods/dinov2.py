"""DINOv2-style self-distillation: DINO's CLS loss + iBOT's masked patch tokens + KoLeo.

The student sees every crop (2 global, N local, as DINO); in its global crops some
patches are replaced by a mask token (`augment.ibot_masks`: half the images, 10–50% of
their tokens in BEiT blocks). The teacher — the EMA of the student's encoder and head —
sees the global crops unmasked. Three terms:

- DINO on the CLS tokens (`losses.dino`'s pairs: every teacher global crop against every
  other student crop);
- iBOT on the patch tokens: at each masked position the student's head output predicts
  the teacher's distribution for the unmasked token (`losses.ibot_patch`; the same head
  for CLS and patches, DINOv2's default `separate_head: false`, called once for each
  kind of token, so that a BatchNorm head, `head.use_bn`, normalises each over its own
  batch);
- KoLeo on the student's backbone CLS tokens of each global crop
  (`losses.koleo`, weight `dinov2.koleo_weight` 0.1).

The teacher's distributions are DINO's centred softmax (`dinov2.centering="centering"`:
one center for CLS logits, one for patch logits, momentum 0.9) or DINOv2's
Sinkhorn-Knopp (`"sinkhorn_knopp"`, 3 iterations, sums over all devices:
`losses.sinkhorn_knopp_centering`). The teacher temperature, the EMA and the frozen last
layer follow DINO (`ssljax.methods.dino`).

Reference: Oquab et al., "DINOv2: Learning Robust Visual Features without Supervision",
TMLR 2024; Zhou et al., "iBOT", ICLR 2022; facebookresearch/dinov2 at b8931f7
(`dinov2/train/ssl_meta_arch.py` `forward_backward`, `dinov2/loss/`,
`dinov2/data/masking.py`, `collate.py`, `configs/ssl_default_config.yaml`).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ssljax import augment, losses, models
from ssljax.errors import ConfigError
from ssljax.methods import base
from ssljax.methods.dino import DINO, build_dino_head
from ssljax.methods.multicrop import split_crops
from ssljax.methods.target import EMATarget
from ssljax.parallel import DATA_AXIS

CENTERINGS = ("centering", "sinkhorn_knopp")


class DINOv2Model(nn.Module):
    """ViT + shared DINO head over the CLS tokens of every crop and the patch tokens of
    the global crops at `patch_index`.

    Called with one array (initialisation: it is the global crops) or a list of crops
    whose first `num_global` are the global ones. `masks` (bool `[G, L]`, G = global
    crops × n) hides student patches. Returns `features` (backbone CLS of every crop
    [M, D]), `proj` (head logits of every crop [M, K]) and `patch_logits` [G, Kp, K].
    """

    encoder: nn.Module
    head: nn.Module
    num_global: int = 2

    @nn.compact
    def __call__(self, x, train: bool = True, masks: jax.Array | None = None,
                 patch_index: jax.Array | None = None) -> dict[str, jax.Array]:
        crops = list(x) if isinstance(x, (list, tuple)) else [x]
        ng = min(self.num_global, len(crops))
        glob = jnp.concatenate(crops[:ng], axis=0)
        tokens = self.encoder(glob, train=train, tokens=True, mask=masks)  # [G, 1 + L, D]
        cls = [tokens[:, 0]]
        rest = crops[ng:]
        if rest:  # local crops: one encoder batch per resolution, CLS tokens only
            groups: list[list[jax.Array]] = []
            for c in rest:
                if groups and groups[-1][0].shape[1:] == c.shape[1:]:
                    groups[-1].append(c)
                else:
                    groups.append([c])
            cls += [self.encoder(jnp.concatenate(g, 0), train=train, tokens=True)[:, 0]
                    for g in groups]
        cls = jnp.concatenate(cls, axis=0)
        patches = tokens[:, 1:]
        if patch_index is not None:
            patches = jnp.take_along_axis(patches, patch_index[..., None], axis=1)
        g, kp, d = patches.shape
        # One head, two calls: with BatchNorm in the head (`head.use_bn`) each call
        # normalises over its own kind of token; a joint batch would normalise the CLS
        # tokens by the spread of the patch tokens (most of its rows). Without BatchNorm
        # the head is row-wise and this equals DINOv2's fused call.
        proj = self.head(cls, train=train)
        patch_logits = self.head(patches.reshape(g * kp, d), train=train)
        return {"features": cls.astype(jnp.float32), "proj": proj.astype(jnp.float32),
                "patch_logits": patch_logits.reshape(g, kp, -1).astype(jnp.float32)}


class DINOv2(DINO):
    """DINOv2-style training. Config: DINO's keys plus `dinov2.centering`
    ("centering" | "sinkhorn_knopp"), `dinov2.sinkhorn_iterations`, `dinov2.koleo_weight`,
    `dinov2.ibot_weight`, `dinov2.mask_probability`, `dinov2.mask_ratio`; the encoder must
    be a ViT with `use_mask_token=True`."""

    name = "dinov2"
    defaults = {
        **DINO.defaults,
        "dinov2.centering": "centering", "dinov2.sinkhorn_iterations": 3,
        "dinov2.koleo_weight": 0.1, "dinov2.ibot_weight": 1.0,
        "dinov2.mask_probability": 0.5, "dinov2.mask_ratio": (0.1, 0.5),
        "ema.tau_base": 0.992, "augment.crop_scale": (0.32, 1.0),
        "augment.local_crop_scale": (0.05, 0.32),
    }

    def build_model(self):
        c = self.config
        encoder = base.build_encoder(c, self.axis)
        if not isinstance(encoder, models.ViT) or not encoder.use_mask_token:
            raise ConfigError("dinov2 needs a ViT encoder with a mask token: set "
                              "encoder.name=vit_* and encoder.use_mask_token=True")
        if c.dinov2.centering not in CENTERINGS:
            raise ConfigError(f"dinov2.centering={c.dinov2.centering!r} must be one of "
                              f"{', '.join(CENTERINGS)}")
        lo, hi = tuple(c.dinov2.mask_ratio)
        if not 0.0 <= lo <= hi < 1.0:
            raise ConfigError(f"dinov2.mask_ratio={tuple(c.dinov2.mask_ratio)} must be "
                              "(low, high) with 0 <= low <= high < 1")
        return DINOv2Model(encoder=encoder, head=build_dino_head(c, self.axis),
                           num_global=self.num_global)

    def build_target(self):
        return EMATarget(self.config, self.model, keys=("encoder", "head"), axis_name=self.axis)

    def init_extra(self, feature_dims):
        k = feature_dims["proj"]
        return {"center": jnp.zeros((1, k), jnp.float32),
                "patch_center": jnp.zeros((1, k), jnp.float32)}

    def masks(self, rng: jax.Array, n: int, grid: tuple[int, int]) -> dict[str, jax.Array]:
        """The student's masks of this device's global crops `[G = 2n, L]`, crop-major."""
        d = self.config.dinov2
        keys = base.example_streams(jax.random.fold_in(rng, 3), n, self.num_global)
        out = augment.ibot_masks(jnp.concatenate(keys), grid,
                                 probability=float(d.mask_probability),
                                 ratio=tuple(float(r) for r in d.mask_ratio))
        return out

    def teacher_probs(self, logits: jax.Array, center: jax.Array, temp: jax.Array,
                      valid: jax.Array | None = None) -> jax.Array:
        """Centred softmax or Sinkhorn-Knopp targets of teacher logits `[m, K]`."""
        d = self.config.dinov2
        if d.centering == "sinkhorn_knopp":
            return losses.sinkhorn_knopp_centering(
                logits, temperature=temp, iterations=int(d.sinkhorn_iterations), valid=valid,
                axis_name=DATA_AXIS)
        return jax.nn.softmax((logits - center) / temp, axis=-1)

    def loss(self, params, state, views, rng):
        n, ng, step = views[0].shape[0], self.num_global, state.step
        c, d = self.config, self.config.dinov2
        p = self.model.encoder.patch_size
        grid = (views[0].shape[1] // p, views[0].shape[2] // p)
        m = self.masks(rng, n, grid)
        drop = jax.random.fold_in(rng, lax.axis_index(DATA_AXIS))
        s_out, batch_stats = base.apply_model(
            self.model, params, state.batch_stats, list(views), rngs={"dropout": drop},
            masks=m["mask"], patch_index=m["index"])
        t_out, t_stats = base.apply_model(
            self.target.model, state.target_params, state.target_batch_stats,
            list(views[:ng]), train=bool(state.target_batch_stats), patch_index=m["index"])
        t_out = jax.lax.stop_gradient(t_out)
        temp = self.teacher_temp(step)

        # DINO on the CLS tokens: teacher crop i against every student crop j != i.
        students = split_crops(s_out["proj"], n, len(views))
        t_probs = self.teacher_probs(t_out["proj"], state.extra["center"], temp)
        teachers = split_crops(t_probs, n, ng)
        dino = _pair_cross_entropy(students, teachers, c.loss.student_temp)

        # iBOT on the masked patch tokens of the global crops.
        k = t_out["patch_logits"].shape[-1]
        valid = m["valid"]
        t_patch = self.teacher_probs(t_out["patch_logits"].reshape(-1, k),
                                     state.extra["patch_center"], temp, valid.reshape(-1))
        ibot = losses.ibot_patch(s_out["patch_logits"], t_patch.reshape(valid.shape + (k,)),
                                 valid, student_temp=c.loss.student_temp, axis_name=DATA_AXIS)

        # KoLeo on each global crop's backbone CLS tokens.
        cls = split_crops(s_out["features"], n, ng)
        koleo = sum(losses.koleo(x, axis_name=DATA_AXIS) for x in cls)

        total = dino + float(d.ibot_weight) * ibot + float(d.koleo_weight) * koleo
        entropy = jnp.sum(jax.scipy.special.entr(t_probs), axis=-1)
        masked = lax.pmean(jnp.mean(jnp.sum(valid, axis=1)), DATA_AXIS)
        metrics = {"teacher_temp": temp, "dino_loss": dino, "ibot_loss": ibot,
                   "koleo_loss": koleo, "masked_tokens": masked,
                   "teacher_entropy": lax.pmean(jnp.mean(entropy), DATA_AXIS)}
        first = {"features": s_out["features"][:n], "proj": students[0]}
        return total, self.target_output(
            state, batch_stats, first, self.target.replicate(t_stats), metrics,
            teacher_logits=split_crops(t_out["proj"], n, ng),
            teacher_patch_logits=t_out["patch_logits"], patch_valid=valid)

    def after_update(self, state, out):
        carry = out.carry
        mom = self.config.loss.center_momentum
        state = super().after_update(state, out)  # EMA and the CLS center
        if self.config.dinov2.centering != "centering":
            return state
        valid = carry["patch_valid"].astype(jnp.float32)[..., None]
        total = lax.psum(jnp.sum(carry["teacher_patch_logits"] * valid, axis=(0, 1)), DATA_AXIS)
        count = lax.psum(jnp.sum(valid), DATA_AXIS)
        mean = (total / jnp.maximum(count, 1.0))[None]
        center = mom * state.extra["patch_center"] + (1.0 - mom) * mean
        return state.replace(extra={**state.extra, "patch_center": center})


def _pair_cross_entropy(students: Sequence[jax.Array], teachers: Sequence[jax.Array],
                        student_temp: float) -> jax.Array:
    """DINO's loss from teacher distributions: the mean over (teacher i, student j ≠ i)
    pairs of the global-batch mean of −Σ t_i log softmax(s_j / T_s) (equals `losses.dino`
    when the teachers are its centred softmax)."""
    total, terms = 0.0, 0
    for j, s in enumerate(students):
        log_p = jax.nn.log_softmax(s / student_temp, axis=-1)
        for i, t in enumerate(teachers):
            if i == j:
                continue
            total = total + lax.pmean(jnp.mean(-jnp.sum(t * log_p, axis=-1)), DATA_AXIS)
            terms += 1
    return total / terms
