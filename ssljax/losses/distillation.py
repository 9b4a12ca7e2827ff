"""Self-distillation losses: DINO's cross-entropy between teacher and student crops, and
DINOv2's additions — iBOT's masked patch-token distillation, the KoLeo regulariser and
the Sinkhorn-Knopp teacher.

References:
    Caron et al., "Emerging Properties in Self-Supervised Vision Transformers" (DINO),
    ICCV 2021. Zhou et al., "iBOT: Image BERT Pre-Training with Online Tokenizer", ICLR
    2022. Oquab et al., "DINOv2: Learning Robust Visual Features without Supervision",
    TMLR 2024, and facebookresearch/dinov2 at b8931f7 (`dinov2/loss/koleo_loss.py`,
    `ibot_patch_loss.py`, `dino_clstoken_loss.py`). Sablayrolles et al., "Spreading
    vectors for similarity search", ICLR 2019 (KoLeo).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from ssljax.losses._common import (
    HIGHEST,
    Array,
    AxisName,
    as_f32,
    axis_size,
    check_positive,
    dot,
    gather,
    psum,
    row_offset,
)
from ssljax.losses.clustering import sinkhorn_knopp

# --------------------------------------------------------------------------------------------
# DINO.
# --------------------------------------------------------------------------------------------


def _crops(name: str, logits: Sequence[Array] | Array) -> list[Array]:
    """A list of per-crop `[n, K]` float32 logits from a sequence or a `[crops, n, K]` array."""
    if hasattr(logits, "ndim"):
        if logits.ndim != 3:
            raise ValueError(
                f"{name} must be a sequence of [n, K] arrays or one [crops, n, K] array, got "
                f"an array of shape {tuple(logits.shape)}"
            )
        logits = [logits[i] for i in range(logits.shape[0])]
    crops = [as_f32(f"{name}[{i}]", x, 2) for i, x in enumerate(logits)]
    if not crops:
        raise ValueError(f"{name} must hold at least one crop, got an empty sequence")
    for i, x in enumerate(crops[1:], start=1):
        if x.shape != crops[0].shape:
            raise ValueError(
                f"{name}[{i}] has shape {tuple(x.shape)}, but {name}[0] has shape "
                f"{tuple(crops[0].shape)}; all crops must have the same [n, K] shape"
            )
    return crops


def _center_dim(center: Array) -> int:
    if center.ndim == 1:
        return center.shape[0]
    if center.ndim == 2 and center.shape[0] == 1:
        return center.shape[1]
    raise ValueError(f"center must have shape [K] or [1, K], got {tuple(center.shape)}")


def dino(
    student_logits: Sequence[Array],
    teacher_logits: Sequence[Array],
    center: Array,
    *,
    student_temp: float = 0.1,
    teacher_temp: float = 0.04,
) -> Array:
    """DINO self-distillation cross-entropy over pairs of crops.

    Teacher targets `softmax((t_i - center) / teacher_temp)` (gradients stopped, as in the
    reference code) are matched by the student's `log_softmax(s_j / student_temp)`. The
    teacher crops are the first `len(teacher_logits)` crops of the student list (the global
    views), and the loss averages the batch-mean cross-entropy
    `-sum_k t_i[k] log s_j[k]` over all pairs (teacher crop i, student crop j) with i != j,
    i.e. `len(teacher) * len(student) - len(teacher)` pairs.

    Args:
      student_logits: sequence of S arrays `[n, K]` (all crops, global first), or one
        `[S, n, K]` array.
      teacher_logits: sequence of T <= S arrays `[n, K]` (the global crops), or `[T, n, K]`.
      center: `[K]` or `[1, K]` teacher center (see `dino_center_update`).
      student_temp: student softmax temperature > 0.
      teacher_temp: teacher softmax temperature > 0 (may be a traced schedule value).

    Returns:
      The float32 scalar mean loss.

    Reference:
      Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021,
      arXiv:2104.14294 (Algorithm 1 and the authors' `DINOLoss`).
    """
    students = _crops("student_logits", student_logits)
    teachers = _crops("teacher_logits", teacher_logits)
    center = jnp.asarray(center).astype(jnp.float32)
    num_k = _center_dim(center)
    if students[0].shape[1] != num_k or teachers[0].shape[1] != num_k:
        raise ValueError(
            f"student_logits and teacher_logits must have K = center size {num_k} columns, got "
            f"{tuple(students[0].shape)}, {tuple(teachers[0].shape)} and center "
            f"{tuple(center.shape)}"
        )
    if students[0].shape[0] != teachers[0].shape[0]:
        raise ValueError(
            f"student_logits and teacher_logits must have the same batch size, got "
            f"{tuple(students[0].shape)} and {tuple(teachers[0].shape)}"
        )
    if len(teachers) > len(students):
        raise ValueError(
            f"teacher_logits has {len(teachers)} crops but student_logits only "
            f"{len(students)}; the teacher crops are the first crops of the student list"
        )
    num_pairs = len(teachers) * len(students) - len(teachers)
    if num_pairs == 0:
        raise ValueError(
            "student_logits and teacher_logits each have 1 crop: no pair (i, j) with i != j"
        )
    check_positive("student_temp", student_temp)
    check_positive("teacher_temp", teacher_temp)

    t = jnp.stack(teachers)  # [T, n, K]
    s = jnp.stack(students)  # [S, n, K]
    t_prob = jax.nn.softmax((t - center.reshape(-1)) / teacher_temp, axis=-1)
    t_prob = lax.stop_gradient(t_prob)
    s_logp = jax.nn.log_softmax(s / student_temp, axis=-1)
    # ce[i, j] = mean over the batch of -sum_k t_i[k] log s_j[k].
    ce = -jnp.einsum("ibk,jbk->ij", t_prob, s_logp, precision=HIGHEST) / t.shape[1]
    same = jnp.arange(len(teachers))[:, None] == jnp.arange(len(students))[None, :]
    return jnp.sum(jnp.where(same, 0.0, ce)) / num_pairs


def dino_center_update(
    center: Array,
    teacher_logits: Sequence[Array] | Array,
    momentum: float = 0.9,
    axis_name: AxisName = None,
) -> Array:
    """DINO teacher-center EMA: `momentum * center + (1 - momentum) * mean(teacher logits)`.

    The mean is over all teacher crops and all rows of the (global) batch. The result is not
    passed through `stop_gradient`; it is normally used as state outside the gradient.

    Args:
      center: `[K]` or `[1, K]` current center.
      teacher_logits: sequence of `[n, K]` teacher logits (one per global crop), one `[m, K]`
        array of concatenated crops, or a `[T, n, K]` array.
      momentum: EMA momentum in [0, 1].
      axis_name: mesh axis of the enclosing `shard_map` to average over, or None.

    Returns:
      The float32 updated center, shaped like `center`.

    Reference:
      Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021,
      arXiv:2104.14294 (Eq. 4 and the authors' `DINOLoss.update_center`).
    """
    if hasattr(teacher_logits, "ndim") and teacher_logits.ndim == 2:
        teacher_logits = [teacher_logits]
    teachers = _crops("teacher_logits", teacher_logits)
    center = jnp.asarray(center).astype(jnp.float32)
    num_k = _center_dim(center)
    if teachers[0].shape[1] != num_k:
        raise ValueError(
            f"teacher_logits must have K = center size {num_k} columns, got "
            f"{tuple(teachers[0].shape)} and center {tuple(center.shape)}"
        )
    if not isinstance(momentum, jax.core.Tracer) and not 0.0 <= float(momentum) <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    t = jnp.concatenate(teachers, axis=0)  # [T*n, K]
    count = t.shape[0] * axis_size(axis_name)
    batch_center = psum(jnp.sum(t, axis=0), axis_name) / count
    return momentum * center + (1.0 - momentum) * batch_center.reshape(center.shape)


# --------------------------------------------------------------------------------------------
# DINOv2: KoLeo, iBOT patch tokens, Sinkhorn-Knopp teacher.
# --------------------------------------------------------------------------------------------


def koleo(x: Array, *, eps: float = 1e-8, axis_name: AxisName = None) -> Array:
    """The Kozachenko-Leonenko regulariser: spread features by pushing nearest neighbours
    apart.

        x̂ = x / max(‖x‖, eps),  d_i = ‖x̂_i − x̂_{nn(i)} + eps‖,  L = −mean_i log(d_i + eps)

    with nn(i) the sample of largest inner product other than i — DINOv2's `KoLeoLoss`
    (`F.normalize`, `nn.PairwiseDistance(2, eps=1e-8)`, which adds eps to the difference).
    Gradients flow into both ends of each pair.

    Args:
        x: `[n, d]` features (DINOv2: the student's CLS tokens of one global crop).
        eps: the reference's 1e-8.
        axis_name: mesh axis of the enclosing `shard_map`: neighbours are searched among
            the whole global batch and the mean is global. (DINOv2 computes it per GPU:
            `axis_name=None` on each device's rows is that.)

    Returns:
        The float32 scalar loss (finite for duplicate or zero rows).
    """
    x = as_f32("x", x, 2)
    n = x.shape[0]
    if n * axis_size(axis_name) < 2:
        raise ValueError(f"koleo needs at least 2 samples, got {n}")
    x = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)
    every = gather(x, axis_name)  # [N, d]
    dots = dot(x, every)  # [n, N]
    own = row_offset(n, axis_name) + jnp.arange(n)
    dots = jnp.where(jnp.arange(every.shape[0])[None, :] == own[:, None], -1.0, dots)
    neighbour = every[jnp.argmax(lax.stop_gradient(dots), axis=1)]
    dist = jnp.sqrt(jnp.sum(jnp.square(x - neighbour + eps), axis=-1))
    return psum(jnp.sum(-jnp.log(dist + eps)), axis_name) / (n * axis_size(axis_name))


def ibot_patch(student_patch_logits: Array, teacher_patch_probs: Array, mask: Array, *,
               student_temp: float = 0.1, axis_name: AxisName = None) -> Array:
    """iBOT's masked-token self-distillation: the student predicts the teacher's patch
    distributions at the tokens it saw masked.

        L = −(1/B) Σ_b (1 / max(m_b, 1)) Σ_{n masked in b} Σ_k t_bnk · log softmax(s_bn / T_s)_k

    with m_b the masked tokens of image b and B all images (also those without masked
    tokens) — DINOv2's `iBOTPatchLoss.forward` / `forward_masked`.

    Args:
        student_patch_logits: `[B, N, K]` the student head's patch-token logits.
        teacher_patch_probs: `[B, N, K]` the teacher's centred, sharpened distributions
            (softmax or `sinkhorn_knopp_centering`); no gradient flows into them.
        mask: `[B, N]`, 1 where the student's token was masked.
        student_temp: T_s (0.1).
        axis_name: mesh axis of the enclosing `shard_map`: B is global.

    Returns:
        The float32 scalar loss.
    """
    s = as_f32("student_patch_logits", student_patch_logits, 3)
    t = lax.stop_gradient(as_f32("teacher_patch_probs", teacher_patch_probs, 3))
    if s.shape != t.shape:
        raise ValueError(f"student_patch_logits and teacher_patch_probs must have the same "
                         f"shape, got {tuple(s.shape)} and {tuple(t.shape)}")
    check_positive("student_temp", student_temp)
    mask = as_f32("mask", mask, 2)
    if mask.shape != s.shape[:2]:
        raise ValueError(f"mask must have shape [B, N] = {tuple(s.shape[:2])}, got "
                         f"{tuple(mask.shape)}")
    ce = -jnp.sum(t * jax.nn.log_softmax(s / student_temp, axis=-1), axis=-1)  # [B, N]
    per_image = jnp.sum(ce * mask, axis=-1) / jnp.maximum(jnp.sum(mask, axis=-1), 1.0)
    return psum(jnp.sum(per_image), axis_name) / (s.shape[0] * axis_size(axis_name))


def sinkhorn_knopp_centering(teacher_logits: Array, *, temperature: float,
                             iterations: int = 3, valid: Array | None = None,
                             axis_name: AxisName = None) -> Array:
    """DINOv2's Sinkhorn-Knopp teacher: equipartitioned targets instead of centring.

    `Q = exp(logits / temperature)` normalised by `iterations` alternating rounds
    (prototype sums over all devices, then each sample's), as `sinkhorn_knopp_teacher`
    of DINOv2's `DINOLoss` (CLS tokens) and `iBOTPatchLoss` (masked patches: pass
    `valid` so that only they count, its `n_masked_patches_tensor`); computed in the log
    domain (`ssljax.losses.sinkhorn_knopp`). No gradient.

    Args:
        teacher_logits: `[n, K]` the teacher head's logits.
        temperature: the teacher temperature (DINOv2: 0.04 → 0.07 warm-up).
        iterations: 3.
        valid: optional bool `[n]`: the rows that take part (others get zero rows).
        axis_name: mesh axis of the enclosing `shard_map`.

    Returns:
        float32 `[n, K]` target distributions, each valid row summing to 1.
    """
    return sinkhorn_knopp(teacher_logits, epsilon=temperature, iterations=iterations,
                          axis_name=axis_name, valid=valid)
