"""PyTorch state-dict names ↔ ssljax encoder variables (ResNet and ViT), both directions.

ssljax's ResNet is torchvision's ResNet v1.5 and its ViT is timm's / DINO's
`VisionTransformer`, layer for layer, so a PyTorch `state_dict` maps onto ssljax variables
by renaming and transposing alone:

    torchvision ResNet                      ssljax ResNet
    conv1.weight [O, I, kh, kw]             params/stem_conv/kernel [kh, kw, I, O]
    bn1.{weight, bias}                      params/stem_bn/{scale, bias}
    bn1.{running_mean, running_var}         batch_stats/stem_bn/{mean, var}
    layer{s}.{b}.conv{k} / bn{k}            stage{s}_block{b+1}/conv{k} / bn{k}
    layer{s}.{b}.downsample.{0, 1}          stage{s}_block{b+1}/proj_conv, proj_bn

    timm / DINO / MAE / MoCo v3 ViT         ssljax ViT
    patch_embed.proj.weight [D, C, p, p]    params/patch_embed/kernel [p, p, C, D]
    cls_token, pos_embed [1, 1 + L, D]      params/cls_token, pos_embed (same shapes)
    blocks.{i}.norm1 / norm2                block{i}/norm1 / norm2 (weight → scale)
    blocks.{i}.attn.qkv [3D, D]             block{i}/attn/{query, key, value}/kernel [D, H, D/H]
    blocks.{i}.attn.proj [D, D]             block{i}/attn/out/kernel [H, D/H, D]
    blocks.{i}.mlp.fc1 / fc2 [O, I]         block{i}/mlp/fc1 / fc2/kernel [I, O]
    norm                                    norm

`torch_table(variables)` lists, for the variables of one ssljax encoder, every tensor of
the PyTorch layout with its shape and the two conversions; `ssljax.convert` uses it to
import checkpoints (with named missing / unexpected / mis-shaped keys) and to export.
BatchNorm's `num_batches_tracked` counters are dropped on import and written as 0 on export
(torch's `load_state_dict` expects them).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from flax import traverse_util

Path = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One PyTorch tensor and the ssljax variables it holds.

    Attributes:
      paths: flat ssljax variable paths, e.g. `("params", "stem_conv", "kernel")` (three
        for a fused qkv tensor).
      shape: the tensor's shape in the PyTorch layout.
      to_torch: ssljax arrays (one per path) → the PyTorch tensor (NumPy).
      from_torch: the PyTorch tensor → ssljax arrays (one per path).
    """

    paths: tuple[Path, ...]
    shape: tuple[int, ...]
    to_torch: Callable[..., np.ndarray]
    from_torch: Callable[[np.ndarray], tuple[np.ndarray, ...]]


_LEAF = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean",
         "var": "running_var"}
_RESNET_MODULES = {"stem_conv": "conv1", "stem_bn": "bn1", "proj_conv": "downsample.0",
                   "proj_bn": "downsample.1"}
_VIT_MODULES = {"patch_embed": "patch_embed.proj", "out": "proj"}
_QKV = ("query", "key", "value")


def _module_name(part: str) -> str:
    m = re.fullmatch(r"stage(\d+)_block(\d+)", part)
    if m:
        return f"layer{m[1]}.{int(m[2]) - 1}"
    m = re.fullmatch(r"block(\d+)", part)
    if m:
        return f"blocks.{m[1]}"
    return _RESNET_MODULES.get(part) or _VIT_MODULES.get(part) or part


def torch_name(path: Path) -> str:
    """The PyTorch state-dict key of one ssljax variable path (q/k/v: the fused `qkv`)."""
    *modules, leaf = path[1:]
    if modules and modules[-1] in _QKV:
        modules[-1] = "qkv"
    if not modules:  # cls_token, pos_embed, mask_token
        return leaf
    return ".".join(_module_name(m) for m in modules) + "." + _LEAF.get(leaf, leaf)


def _same(a: np.ndarray) -> np.ndarray:
    return np.asarray(a)


def _entry(path: Path, shape: tuple[int, ...]) -> Entry:
    """The conversion of one (non-qkv) variable, chosen by its kind and rank."""
    leaf, module = path[-1], path[-2] if len(path) > 2 else ""
    if leaf == "kernel" and len(shape) == 4:  # conv [kh, kw, I, O] ↔ [O, I, kh, kw]
        return Entry((path,), (shape[3], shape[2], shape[0], shape[1]),
                     lambda k: np.transpose(k, (3, 2, 0, 1)),
                     lambda w: (np.transpose(w, (2, 3, 1, 0)),))
    if leaf == "kernel" and module == "out" and len(shape) == 3:  # [H, hd, D] ↔ [D, H·hd]
        h, hd, d = shape
        return Entry((path,), (d, h * hd), lambda k: np.reshape(k, (h * hd, d)).T,
                     lambda w: (np.reshape(w.T, (h, hd, d)),))
    if leaf == "kernel" and len(shape) == 2:  # dense [I, O] ↔ [O, I]
        return Entry((path,), (shape[1], shape[0]), lambda k: np.asarray(k).T,
                     lambda w: (np.asarray(w).T,))
    if leaf == "kernel":
        raise ValueError(f"no PyTorch layout for the {shape} kernel at {'/'.join(path)}")
    return Entry((path,), tuple(shape), _same, lambda w: (np.asarray(w),))


def _qkv_entry(paths: tuple[Path, ...], shape: tuple[int, ...]) -> Entry:
    """Fused qkv: kernels `[D, H, hd]` (bias `[H, hd]`) ×3 ↔ weight `[3D, D]` (bias `[3D]`)."""
    if paths[0][-1] == "kernel":
        d, h, hd = shape
        return Entry(paths, (3 * h * hd, d),
                     lambda *ks: np.concatenate([np.reshape(k, (d, h * hd)).T for k in ks], 0),
                     lambda w: tuple(np.reshape(p.T, (d, h, hd)) for p in np.split(w, 3, 0)))
    h, hd = shape
    return Entry(paths, (3 * h * hd,), lambda *bs: np.concatenate([np.reshape(b, -1) for b in bs]),
                 lambda w: tuple(np.reshape(p, (h, hd)) for p in np.split(w, 3)))


def flat_variables(variables: dict[str, Any]) -> dict[Path, Any]:
    """`{"params", "batch_stats"}` as `{("params", "stem_conv", "kernel"): array, ...}`."""
    out: dict[Path, Any] = {}
    for collection in ("params", "batch_stats"):
        for path, leaf in traverse_util.flatten_dict(dict(variables.get(collection) or {})).items():
            out[(collection, *path)] = leaf
    return out


def torch_table(variables: dict[str, Any]) -> dict[str, Entry]:
    """Every PyTorch tensor of an ssljax encoder's layout, by state-dict key.

    Args:
      variables: the encoder's `{"params", "batch_stats"}` (arrays or `ShapeDtypeStruct`s:
        only shapes are read).

    Returns:
      `{torch key: Entry}`, including BatchNorm's `num_batches_tracked` (shape `()`, no
      ssljax variable).
    """
    flat = flat_variables(variables)
    table: dict[str, Entry] = {}
    for path, leaf in flat.items():
        key = torch_name(path)
        if key in table:
            continue
        shape = tuple(leaf.shape)
        if len(path) > 2 and path[-2] in _QKV:
            paths = tuple((*path[:-2], m, path[-1]) for m in _QKV)
            table[key] = _qkv_entry(paths, shape)
        else:
            table[key] = _entry(path, shape)
        if path[0] == "batch_stats" and path[-1] == "mean":
            counter = key.rsplit(".", 1)[0] + ".num_batches_tracked"
            table[counter] = Entry((), (), lambda: np.zeros((), np.int64), lambda w: ())
    return table


def to_torch(variables: dict[str, Any]) -> dict[str, np.ndarray]:
    """An ssljax encoder's variables as a PyTorch-layout state dict of NumPy arrays."""
    flat = {p: np.asarray(v) for p, v in flat_variables(variables).items()}
    return {key: e.to_torch(*(flat[p] for p in e.paths))
            for key, e in torch_table(variables).items()}


def from_torch(state: dict[str, np.ndarray], table: dict[str, Entry]) -> dict[str, Any]:
    """ssljax `{"params", "batch_stats"}` from a PyTorch-layout state dict that `table`
    has been checked against (every key present, shapes equal)."""
    flat: dict[Path, np.ndarray] = {}
    for key, e in table.items():
        if not e.paths:  # num_batches_tracked
            continue
        for path, value in zip(e.paths, e.from_torch(np.asarray(state[key])), strict=True):
            flat[path] = np.ascontiguousarray(value, dtype=np.float32)
    nested = traverse_util.unflatten_dict(flat)
    return {"params": nested.get("params", {}), "batch_stats": nested.get("batch_stats", {})}
