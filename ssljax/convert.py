"""Import PyTorch checkpoints as ssljax encoders, and export ssljax encoders to PyTorch.

    python -m ssljax.convert --from=torchvision:resnet50 --checkpoint=resnet50.pth --out=DIR
    python -m ssljax.convert --from=dino:vit_small_patch16 \
        --checkpoint=dino_deitsmall16_pretrain.pth --out=DIR
    python -m ssljax.convert --export=runs/demo --out=encoder.safetensors

An imported `DIR` is an ssljax encoder directory (`encoder/` + `encoder_spec.json`, as a
pretraining workdir ends with): `ssljax.load_encoder(DIR)`, `linear_eval` and `finetune`
(`--config.init_from=DIR`) take it, and its spec records ImageNet's mean/std
normalisation and 224-pixel RGB inputs. Checkpoints are read from `.pth`/`.pt`/`.bin`
(`torch.load(weights_only=True)`; needs torch: `pip install 'ssljax[torch]'`) or from
`.safetensors` (NumPy only). Wrapped checkpoints are unwrapped (`state_dict`, `model`,
`teacher`) and the layout's prefixes removed (`module.base_encoder.` for MoCo v3,
`module.`/`backbone.` for DINO). The layouts (`--from`) are `SOURCES`; see
`ssljax.torch_layout` for the name mapping. An export writes the torchvision layout for a
ResNet and the timm layout for a ViT (`model.load_state_dict(safetensors.torch.load_file(F))`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ssljax import encoder_io, torch_layout
from ssljax.errors import CheckpointError, ConfigError, SSLJaxError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WRAPPERS = ("state_dict", "model", "teacher", "module")
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".tar", ".ckpt")


@dataclasses.dataclass(frozen=True)
class Source:
    """A PyTorch checkpoint layout.

    Attributes:
      encoder: the ssljax encoder block it converts to.
      prefixes: key prefixes removed (the first that matches each key).
      drop: raw key prefixes of other networks in the file, ignored (MoCo v3's momentum
        encoder and predictor; MAE's decoder).
      ignore: key prefixes (after `prefixes`) of heads the encoder does not hold
        (classifier `fc.`/`head.`, DINO's projection head, MoCo v3's projector).
      image_size: the side the weights were trained at (position embeddings, eval view).
    """

    encoder: dict[str, Any]
    prefixes: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    image_size: int = 224


def _vit(name: str, patch: int) -> dict[str, Any]:
    return {"name": name, "patch_size": patch, "img_size": 224}


def _sources() -> dict[str, Source]:
    out: dict[str, Source] = {}
    for depth in (18, 34, 50):
        out[f"torchvision:resnet{depth}"] = Source({"name": f"resnet{depth}"}, ignore=("fc.",))
    for size in ("tiny", "small", "base", "large"):
        for patch in (16, 8):
            if size in ("small", "base") or patch == 16:
                out[f"timm:vit_{size}_patch{patch}_224"] = Source(_vit(f"vit_{size}", patch),
                                                                 ignore=("head.",))
    dino = ("module.", "backbone.")
    for size in ("small", "base"):
        for patch in (16, 8):
            out[f"dino:vit_{size}_patch{patch}"] = Source(_vit(f"vit_{size}", patch), dino,
                                                          ignore=("head.",))
    out["dino:resnet50"] = Source({"name": "resnet50"}, dino, ignore=("fc.", "head."))
    for size, patch in (("base", 16), ("large", 16), ("huge", 14)):
        out[f"mae:vit_{size}_patch{patch}"] = Source(_vit(f"vit_{size}", patch),
                                                     drop=("decoder_", "mask_token"))
    moco = dict(prefixes=("module.base_encoder.",),
                drop=("module.momentum_encoder.", "module.predictor."))
    for size in ("small", "base"):
        out[f"mocov3:vit_{size}"] = Source(_vit(f"vit_{size}", 16), ignore=("head.",), **moco)
    out["mocov3:resnet50"] = Source({"name": "resnet50"}, ignore=("fc.",), **moco)
    return out


SOURCES: dict[str, Source] = _sources()


def _unknown_source(name: str) -> str:
    return f"--from={name!r} is not a known layout; use one of: {', '.join(SOURCES)}"


# ----------------------------------------------------------------------------- reading


def _is_tensor(v: Any) -> bool:
    return hasattr(v, "shape") and hasattr(v, "dtype")


def _to_numpy(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):  # a torch tensor
        v = v.detach().cpu()
        return (v.float() if v.is_floating_point() else v).numpy()
    return np.asarray(v)


def _unwrap(obj: Any, where: str) -> dict[str, Any]:
    """The state dict inside a loaded checkpoint (following `WRAPPERS`)."""
    for _ in range(4):
        if not isinstance(obj, Mapping):
            break
        if obj and all(_is_tensor(v) for v in obj.values()):
            return dict(obj)
        inner = next((obj[k] for k in WRAPPERS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    keys = ", ".join(map(str, list(obj)[:8])) if isinstance(obj, Mapping) else type(obj).__name__
    raise CheckpointError(f"{where} holds no state dict of tensors (found: {keys}); pass a "
                          "checkpoint saved with torch.save(model.state_dict()) or safetensors")


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """A checkpoint's tensors as NumPy arrays (floats as float32), keyed as saved.

    Raises:
      CheckpointError: missing, unreadable, an unknown suffix, or no state dict inside.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"--checkpoint={path} does not exist (or is not a file)")
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file  # noqa: PLC0415

        try:
            state = load_file(str(path))
        except Exception as e:  # noqa: BLE001 - any parse error of a damaged file
            raise CheckpointError(f"{path} is not a readable .safetensors file ({e})") from None
        return {k: v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) else v
                for k, v in state.items()}
    if path.suffix not in TORCH_SUFFIXES:
        raise CheckpointError(f"--checkpoint={path}: unknown file type {path.suffix!r}; pass a "
                              ".safetensors file or a torch checkpoint "
                              f"({', '.join(TORCH_SUFFIXES)})")
    try:
        import torch  # noqa: PLC0415 - the optional extra
    except ImportError:
        raise CheckpointError(f"reading {path.name} needs PyTorch: pip install 'ssljax[torch]' "
                              "(or convert it to .safetensors)") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickle/zip errors of a damaged or foreign file
        raise CheckpointError(f"{path} is not a readable torch checkpoint "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None
    return {k: _to_numpy(v) for k, v in _unwrap(obj, str(path)).items()}


def select(state: dict[str, np.ndarray], source: Source) -> dict[str, np.ndarray]:
    """The encoder's tensors: other networks dropped, prefixes removed, heads ignored."""
    out = {}
    for key, value in state.items():
        if key.startswith(source.drop):
            continue
        for prefix in source.prefixes:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        if not key.startswith(source.ignore) and not key.endswith("num_batches_tracked"):
            out[key] = value
    return out


def _more(keys: list[str]) -> str:
    return f"{keys[0]!r}" + (f" (and {len(keys) - 1} more)" if len(keys) > 1 else "")


def check_state(state: dict[str, np.ndarray], table: dict[str, torch_layout.Entry],
                name: str) -> None:
    """Raises a one-line `CheckpointError` for a missing, unexpected or mis-shaped key."""
    expected = {k: e for k, e in table.items() if not k.endswith("num_batches_tracked")}
    unexpected = sorted(k for k in state if k not in expected)
    if unexpected:
        raise CheckpointError(f"unexpected key {_more(unexpected)} for the {name} layout; is "
                              "--from right? (its keys look like "
                              f"{', '.join(list(expected)[:3])}, ...)")
    missing = [k for k in expected if k not in state]
    if missing:
        raise CheckpointError(f"missing key {_more(missing)} for the {name} layout; is --from "
                              "right, or is the checkpoint incomplete?")
    for key, entry in expected.items():
        if tuple(state[key].shape) != entry.shape:
            raise CheckpointError(f"key {key!r} has shape {tuple(state[key].shape)}, the {name} "
                                  f"layout expects {entry.shape}; is --from the right model size?")


# ----------------------------------------------------------------------------- import / export


def _abstract(block: dict[str, Any], size: int) -> tuple[Any, dict[str, Any]]:
    module = encoder_io.build_encoder(block, None)
    shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0),
                                                jnp.zeros((1, size, size, 3)), train=False))
    return module, {"params": shapes["params"], "batch_stats": shapes.get("batch_stats", {})}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(name: str, checkpoint: str | Path, out: str | Path) -> Path:
    """Imports a PyTorch checkpoint of layout `name` as an ssljax encoder directory `out`.

    Returns:
      `out` (holding `encoder/` and `encoder_spec.json`).

    Raises:
      ConfigError: unknown layout, or `out` already holds an encoder (never overwritten).
      CheckpointError: unreadable checkpoint, missing / unexpected key, shape mismatch.
    """
    if name not in SOURCES:
        raise ConfigError(_unknown_source(name))
    out = Path(out)
    if (out / encoder_io.ENCODER_SPEC).exists() or (out / encoder_io.ENCODER_DIR).exists():
        raise ConfigError(f"--out={out} already holds an encoder; pick a new --out (nothing "
                          "there is changed)")
    source = SOURCES[name]
    _, abstract = _abstract(source.encoder, source.image_size)
    table = torch_layout.torch_table(abstract)
    state = select(read_state_dict(checkpoint), source)
    check_state(state, table, name)
    variables = torch_layout.from_torch(state, table)
    size = source.image_size
    spec = {
        "method": name.split(":")[0], "step": None, "network": "converted",
        "encoder": {**source.encoder, "dtype": "float32"}, "input_shape": [size, size, 3],
        "eval_view": {"out_size": size, "channels": 3, "mean": list(IMAGENET_MEAN),
                      "std": list(IMAGENET_STD)},
        "converted_from": {"layout": name, "checkpoint": str(Path(checkpoint).absolute()),
                           "sha256": _sha256(Path(checkpoint))},
    }
    encoder_io.export_encoder(out, variables["params"], variables["batch_stats"], spec)
    return out


def export_safetensors(path: str | Path, out: str | Path) -> Path:
    """Writes the encoder at `path` (workdir / `encoder/` / converted dir) as a `.safetensors`
    file in the torchvision (ResNet) or timm (ViT) layout; returns `out`.

    Raises:
      ConfigError: `out` exists (never overwritten) or does not end in `.safetensors`.
      CheckpointError: no encoder at `path`.
    """
    from safetensors.numpy import save_file  # noqa: PLC0415

    from ssljax.pretrained import load_encoder  # noqa: PLC0415

    out = Path(out)
    if out.suffix != ".safetensors":
        raise ConfigError(f"--out={out} must end in .safetensors")
    if out.exists():
        raise ConfigError(f"--out={out} exists; pick a new file name (nothing is overwritten)")
    encoder = load_encoder(path)
    if encoder.spec["encoder"].get("name") == "small_cnn":
        raise ConfigError("small_cnn has no PyTorch counterpart; export a ResNet or ViT encoder")
    state = torch_layout.to_torch(jax.device_get(encoder.variables))
    meta = {"format": "pt", "ssljax_encoder": str(encoder.spec["encoder"]),
            "normalization": str(encoder.spec.get("eval_view"))}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(tmp), metadata=meta)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m ssljax.convert`: --from/--checkpoint/--out, or --export/--out."""
    p = argparse.ArgumentParser(prog="python -m ssljax.convert", description=__doc__.split("\n")[0])
    p.add_argument("--from", dest="layout", help=f"checkpoint layout: {', '.join(SOURCES)}")
    p.add_argument("--checkpoint", help=".pth/.pt/.bin or .safetensors file to import")
    p.add_argument("--export", help="ssljax encoder (workdir) to write as .safetensors")
    p.add_argument("--out", required=True, help="directory (import) or .safetensors file (export)")
    args = p.parse_args(argv)
    try:
        if args.export:
            if args.layout or args.checkpoint:
                raise ConfigError("--export takes no --from/--checkpoint")
            written = export_safetensors(args.export, args.out)
        else:
            if not args.layout or not args.checkpoint:
                raise ConfigError("pass --from=LAYOUT --checkpoint=FILE --out=DIR (or "
                                  "--export=WORKDIR --out=FILE.safetensors)")
            written = convert(args.layout, args.checkpoint, args.out)
    except SSLJaxError as e:
        print(f"ssljax: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
