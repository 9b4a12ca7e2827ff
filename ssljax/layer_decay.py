"""Layer-wise learning-rate decay for ViT fine-tuning (BEiT, MAE), as optax pieces.

`layer_decay_multipliers(params, decay)` gives each parameter its factor and
`scale_by_layer_decay(decay)` multiplies the updates by it; `ssljax.optim.make_optimizer(
..., layer_decay=...)` chains it after the optimizer. Both are re-exported by
`ssljax.optim`.

Reference: Bao et al., "BEiT", ICLR 2022; He et al., "Masked Autoencoders Are Scalable
Vision Learners", CVPR 2022 (facebookresearch/mae `util/lr_decay.py`).
"""

from __future__ import annotations

from typing import Any

import jax
import optax

PyTree = Any


def _name(key: Any) -> str:
    """A pytree path entry as text (dict key, attribute name or index)."""
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


_EMBEDDING_NAMES = ("patch_embed", "cls_token", "pos_embed", "mask_token")


def _block_index(name: str) -> int | None:
    """i for a ViT parameter-path component `block{i}`, else None."""
    if name.startswith("block") and name[5:].isdigit():
        return int(name[5:])
    return None


def layer_decay_multipliers(params: PyTree, layer_decay: float) -> PyTree:
    """Per-parameter learning-rate factors of layer-wise lr decay, for a ViT's paths.

    As MAE's `param_groups_lrd` / `get_layer_id_for_vit`: with `depth` blocks and
    `num_layers = depth + 1`, the patch embedding, CLS token, position embeddings (and
    DINOv2's mask token) are
    layer 0, `block{i}` layer i + 1 and everything else (the final norm, heads) layer
    `num_layers`; a parameter of layer l gets `layer_decay ** (num_layers − l)` (1 for the
    head, `layer_decay ** 12` for ViT-B's patch embedding at 0.75 … 0.65).

    Args:
        params: a parameter pytree holding a ViT (`ssljax.models.ViT` names) anywhere.
        layer_decay: the decay factor in (0, 1].

    Returns:
        A pytree of Python floats with the structure of `params`.

    Raises:
        ValueError: layer_decay outside (0, 1], or < 1 on a tree without `block{i}`.
    """
    if not 0.0 < layer_decay <= 1.0:
        raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay}")
    names = [[_name(k) for k in path]
             for path, _ in jax.tree_util.tree_leaves_with_path(params)]
    blocks = {i for path in names for i in map(_block_index, path) if i is not None}
    if not blocks and layer_decay < 1.0:
        raise ValueError("layer_decay needs a ViT (parameters named block0, block1, ...); "
                         "set optimizer.layer_decay=1 for other encoders")
    num_layers = (max(blocks) + 1 if blocks else 0) + 1

    def factor(path: tuple[Any, ...], _: Any) -> float:
        parts = [_name(k) for k in path]
        index = next((i for i in map(_block_index, parts) if i is not None), None)
        if index is not None:
            layer = index + 1
        elif any(p in _EMBEDDING_NAMES for p in parts):
            layer = 0
        else:
            layer = num_layers
        return float(layer_decay ** (num_layers - layer))

    return jax.tree_util.tree_map_with_path(factor, params)


def scale_by_layer_decay(layer_decay: float) -> optax.GradientTransformation:
    """Multiplies each update by its `layer_decay_multipliers` factor (stateless).

    Chained after an optimizer whose updates are already multiplied by the learning rate
    (AdamW's decoupled decay included), this is the per-group `lr_scale` of MAE's
    fine-tuning: the whole step of a parameter scales with its layer's factor.
    """
    if layer_decay == 1.0:
        return optax.identity()

    def update(updates: PyTree, state: Any, params: PyTree = None) -> tuple[PyTree, Any]:
        del params
        factors = layer_decay_multipliers(updates, layer_decay)
        return jax.tree.map(lambda u, f: (u * f).astype(u.dtype), updates, factors), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def scale_by_path(multipliers: dict[str, float]) -> optax.GradientTransformation:
    """Multiplies the update of every parameter under a path component named in
    `multipliers` by its factor (stateless): a learning-rate multiplier for those
    parameters when chained after an optimizer whose updates carry the learning rate
    (DINOv2's `patch_embed_lr_mult` 0.2: `{"patch_embed": 0.2}`).
    """
    multipliers = {k: float(v) for k, v in multipliers.items() if float(v) != 1.0}
    if not multipliers:
        return optax.identity()

    def factor(path: tuple[Any, ...]) -> float:
        return next((multipliers[p] for p in map(_name, path) if p in multipliers), 1.0)

    def update(updates: PyTree, state: Any, params: PyTree = None) -> tuple[PyTree, Any]:
        del params
        return jax.tree_util.tree_map_with_path(
            lambda path, u: (u * factor(path)).astype(u.dtype), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
