"""The exported encoder: written by `pretrain`, read by `linear_eval`, `finetune` and users.

A pretraining workdir ends with

    encoder/             the encoder only ({"params", "batch_stats"}, Orbax)
    projector/           the hidden layers of an MLP projector (`dense{i}`, `bn{i}`), for
                         SimCLR v2's fine-tuning from the projector (`finetune
                         --config.projector_layers=1`); absent for other heads
    encoder_spec.json    how to rebuild it and feed it: encoder config block, input shape,
                         the eval view (size, normalisation), method, step, network,
                         dataset, and `projector` ({"hidden_dims", "use_bn"}) when saved

`export_encoder` writes both atomically; `resolve_encoder` reads `config.init_from` (the
workdir or its `encoder/` folder), checks the evaluation config's `encoder` block against
the spec and says how to feed the encoder (`EncoderSource.view`); `encoder_variables`
restores the weights, replicated over the mesh, or initialises them for a from-scratch
baseline.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from ssljax import augment, models, parallel
from ssljax.checkpoint import error_summary, save_variables, structure_mismatch, write_json_atomic
from ssljax.errors import CheckpointError, ConfigError

ENCODER_DIR = "encoder"
PROJECTOR_DIR = "projector"
ENCODER_SPEC = "encoder_spec.json"


# ----------------------------------------------------------------------------- export


def export_encoder(workdir: str | os.PathLike, params: Any, batch_stats: Any,
                   spec: dict[str, Any], projector: dict[str, Any] | None = None) -> Path:
    """Saves the encoder alone (`workdir/encoder`) and its `encoder_spec.json`.

    Args:
      workdir: the pretraining workdir.
      params: the encoder's parameter tree.
      batch_stats: the encoder's BatchNorm statistics (may be empty).
      spec: JSON-able description: encoder config, input shape, eval view, method, step
        (with `projector` when `projector` is given).
      projector: `{"params", "batch_stats"}` of the projector's hidden layers, or None.
    """
    wd = Path(workdir).absolute()
    target = save_variables(wd / ENCODER_DIR, {"params": params, "batch_stats": batch_stats})
    if projector is not None:
        save_variables(wd / PROJECTOR_DIR, projector)
    if jax.process_index() == 0:
        write_json_atomic(wd / ENCODER_SPEC, spec)
    return target


# ----------------------------------------------------------------------------- import


def load_encoder_spec(init_from: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """Finds the exported encoder of a pretraining workdir: (encoder dir, spec).

    Raises:
      CheckpointError: `init_from` is missing or holds no exported encoder.
    """
    if not str(init_from):
        raise CheckpointError("init_from is empty; pass --config.init_from=<pretrain workdir>")
    root = Path(init_from)
    if not root.exists():
        raise CheckpointError(
            f"init_from={root} does not exist; pass the --workdir of a finished pretrain run")
    if root.name == ENCODER_DIR and (root.parent / ENCODER_SPEC).exists():
        root = root.parent
    spec_path, enc_dir = root / ENCODER_SPEC, root / ENCODER_DIR
    if not spec_path.exists() or not enc_dir.is_dir():
        raise CheckpointError(
            f"init_from={root} is not a pretraining checkpoint (no {ENCODER_SPEC} and "
            f"{ENCODER_DIR}/); pass the --workdir of a finished `ssljax.pretrain` run")
    try:
        spec = json.loads(spec_path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{spec_path} is unreadable ({e})") from None
    return enc_dir, spec


def restore_encoder(enc_dir: Path, abstract: Any) -> Any:
    """Restores `{"params", "batch_stats"}` of an exported encoder into `abstract`'s structure.

    Raises:
      CheckpointError: the saved encoder does not match the expected structure.
    """
    mismatch = structure_mismatch(enc_dir, abstract)
    if mismatch:
        raise CheckpointError(
            f"the encoder in {enc_dir} does not match this config's encoder ({mismatch}); "
            "use the encoder settings of the pretraining run")
    try:
        return ocp.StandardCheckpointer().restore(Path(enc_dir).absolute(), abstract)
    except Exception as e:  # noqa: BLE001 - the tree matches: a file is missing or damaged
        missing = getattr(e, "filename", None) if isinstance(e, FileNotFoundError) else None
        raise CheckpointError(
            f"the encoder in {enc_dir} is incomplete or damaged ({missing or error_summary(e)}"
            "); re-export it by rerunning its pretraining command (it evaluates and exports "
            "again)") from None


@dataclasses.dataclass(frozen=True)
class EncoderSource:
    """Where an evaluation's encoder comes from and how to feed it.

    Attributes:
      encoder_cfg: the encoder config block (`name`, `dtype`, the encoder's own attributes).
      enc_dir: the exported encoder folder, or None for a random init ("scratch").
      spec: the pretraining run's `encoder_spec.json` ({} for scratch).
      view: how un-augmented images enter the encoder (size, channels, normalisation).
    """

    encoder_cfg: dict[str, Any]
    enc_dir: Path | None
    spec: dict[str, Any]
    view: augment.EvalView

    @property
    def init(self) -> str:
        """"ssl" (restored from a pretraining run) or "scratch"."""
        return "scratch" if self.enc_dir is None else "ssl"

    @property
    def image_size(self) -> int:
        """Side of the encoder's input images (0: the dataset's)."""
        return self.view.out_size


def _as_tuple(v: Any) -> tuple[float, ...] | None:
    return None if v is None else tuple(np.atleast_1d(v).tolist())


# encoder keys that may differ from the checkpoint's: how the saved encoder runs
_RUNTIME_KEYS = ("dtype", "features", "feature_layer", "drop_path_rate")


def resolve_encoder(config: ml_collections.ConfigDict, *, allow_scratch: bool) -> EncoderSource:
    """Reads `config.init_from` and checks `config.encoder` against the checkpoint.

    Every non-empty key of `config.encoder` except `dtype`, `features`, `feature_layer`
    and `drop_path_rate` (e.g. `encoder.name`) must equal the pretraining run's value;
    empty values mean "the checkpoint's". `dtype`, `features` (a ViT's output tokens,
    `ssljax.models.ViT`: `cls_last4` is DINO's ViT-S linear probe), `feature_layer` (a
    ResNet/SmallCNN stage to pool, > 0) and `drop_path_rate` (a ViT's stochastic depth
    while fine-tuning, MAE's 0.1) change how the saved encoder runs, not what it holds; so
    do `patch_px`/`patch_stride` (0: the checkpoint's — CPC's encoder reads its patch
    grid; -1: whole images; > 0: this grid, `ssljax.models.patches`).

    Raises:
      CheckpointError: `init_from` is missing, not a pretraining workdir, or its encoder
        differs from the one the config asks for.
      ConfigError: `init_from=""` where a checkpoint is required, or no encoder name.
    """
    own = {k: v for k, v in config.encoder.to_dict().items() if v not in ("", None)}
    layer = int(own.pop("feature_layer", 0) or 0)
    patch = (int(own.pop("patch_px", 0) or 0), int(own.pop("patch_stride", 0) or 0))
    size = int(config.image_size)
    if not config.init_from:
        if not allow_scratch:
            raise ConfigError("init_from is empty; pass --config.init_from=<pretrain workdir>")
        if "name" not in own:
            raise ConfigError(
                "init_from is empty (training from scratch) but encoder.name is not set; pass "
                "--config.encoder.name=small_cnn (or resnet18, ...)")
        if layer:
            own["feature_layer"] = layer
        return EncoderSource(_with_patches(own, patch), None, {}, augment.EvalView(size))
    enc_dir, spec = load_encoder_spec(config.init_from)
    saved = dict(spec.get("encoder") or {})
    if "name" not in saved:
        raise CheckpointError(
            f"{config.init_from}: {ENCODER_SPEC} names no encoder; re-export it with a current "
            "`ssljax.pretrain`")
    for key, value in own.items():
        theirs = saved[key] if key in saved else _default_attribute(saved["name"], key)
        same = json.loads(json.dumps(theirs)) == json.loads(json.dumps(value))
        if key not in _RUNTIME_KEYS and not same:
            raise CheckpointError(
                f"init_from={config.init_from} holds a {saved['name']!r} encoder with "
                f"{key}={theirs!r}, but this config sets encoder.{key}={value!r}; set "
                f"--config.encoder.{key}= (empty: use the checkpoint's) or pick a matching "
                "checkpoint")
    enc_cfg = {**saved, "dtype": own.get("dtype", saved.get("dtype", "float32"))}
    if "features" in own:
        if not isinstance(models.get_encoder(saved["name"]), models.ViT):
            raise ConfigError(f"encoder.features={own['features']!r} applies to ViT encoders; "
                              f"{config.init_from} holds a {saved['name']!r}; set "
                              "--config.encoder.features=")
        enc_cfg["features"] = own["features"]
    if "drop_path_rate" in own:
        if not isinstance(models.get_encoder(saved["name"]), models.ViT):
            raise ConfigError(f"encoder.drop_path_rate applies to ViT encoders; "
                              f"{config.init_from} holds a {saved['name']!r}; set "
                              "--config.encoder.drop_path_rate=")
        enc_cfg["drop_path_rate"] = float(own["drop_path_rate"])
    if layer:
        if not hasattr(models.get_encoder(saved["name"]), "feature_layer"):
            raise ConfigError(f"encoder.feature_layer={layer} applies to ResNet and SmallCNN "
                              f"encoders; {config.init_from} holds a {saved['name']!r}; set "
                              "--config.encoder.feature_layer=0")
        enc_cfg["feature_layer"] = layer
    if patch[0] and not hasattr(models.get_encoder(saved["name"]), "patch_px"):
        raise ConfigError(f"encoder.patch_px applies to ResNet and SmallCNN encoders; "
                          f"{config.init_from} holds a {saved['name']!r}; set "
                          "--config.encoder.patch_px=0")
    return EncoderSource(_with_patches(enc_cfg, patch), enc_dir, spec, view_of_spec(spec, size))


def _with_patches(block: dict[str, Any], patch: tuple[int, int]) -> dict[str, Any]:
    """`block` with the patch grid of `encoder.patch_px/patch_stride` (0: unchanged, -1:
    whole images)."""
    px, stride = patch
    if px < 0:
        return {k: v for k, v in block.items() if k not in ("patch_px", "patch_stride")}
    if px:
        return {**block, "patch_px": px, "patch_stride": stride or px}
    return block


def view_of_spec(spec: dict[str, Any], size: int = 0) -> augment.EvalView:
    """How an exported encoder is fed: its spec's `eval_view` (input side `size` if > 0)."""
    view = spec.get("eval_view") or {}
    shape = spec.get("input_shape") or [0, 0, 0]
    channels = int(shape[2]) if len(shape) == 3 else None
    return augment.EvalView(size or int(view.get("out_size") or shape[0]),
                            view.get("channels") or channels,
                            _as_tuple(view.get("mean")), _as_tuple(view.get("std")))


def _default_attribute(name: str, key: str) -> Any:
    """The default of attribute `key` of encoder `name` (None if it has none)."""
    if key == "name":
        return name
    try:
        module = models.get_encoder(name)
    except Exception:  # noqa: BLE001 - an unknown name is reported where it is built
        return None
    value = getattr(module, key, None)
    return list(value) if isinstance(value, tuple) else value


def build_encoder(encoder_cfg: dict[str, Any], axis_name: str | None) -> nn.Module:
    """The encoder module of a config block; bad names/attributes become a `ConfigError`."""
    try:
        return models.encoder_from_block(encoder_cfg, axis_name)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"encoder: {e}") from None


def projector_trunk(encoder: nn.Module, source: EncoderSource, layers: int,
                    bn_axis: str | None) -> nn.Module:
    """The encoder followed by the first `layers` layers of its pretrained projector.

    Raises:
      ConfigError: no checkpoint (training from scratch) or more layers than it saved.
      CheckpointError: the checkpoint saved no projector (an older export, or a method
        whose head is not an MLP).
    """
    if source.enc_dir is None:
        raise ConfigError("projector_layers > 0 needs a pretrained projector; set "
                          "--config.init_from=<pretrain workdir> or projector_layers=0")
    info = source.spec.get("projector")
    path = source.enc_dir.parent / PROJECTOR_DIR
    if not info or not path.is_dir():
        raise CheckpointError(
            f"{source.enc_dir.parent} saved no projector (its method's head is not an MLP "
            f"with hidden layers, or it was exported before {PROJECTOR_DIR}/ existed); set "
            "--config.projector_layers=0 or rerun its pretraining command")
    hidden = list(info["hidden_dims"])
    if not 0 < layers <= len(hidden):
        raise ConfigError(f"projector_layers={layers}: the pretrained projector has "
                          f"{len(hidden)} hidden layer(s); use 1..{len(hidden)} (or 0)")
    return models.ProjectorTrunk(encoder, tuple(hidden[:layers]), use_bn=bool(info["use_bn"]),
                                 dtype=getattr(encoder, "dtype", jnp.float32),
                                 bn_axis_name=bn_axis)


def trunk_variables(trunk: nn.Module, encoder_vars: dict[str, Any], source: EncoderSource,
                    input_shape: tuple[int, ...], mesh: Any) -> dict[str, Any]:
    """The restored encoder's variables with the projector's first layers, replicated.

    Raises:
      CheckpointError: the saved projector does not fit (shapes or layers differ).
    """
    path = (source.enc_dir.parent / PROJECTOR_DIR).absolute()
    try:
        saved = ocp.StandardCheckpointer().restore(path)
    except Exception as e:  # noqa: BLE001 - a missing or damaged file
        raise CheckpointError(f"the projector in {path} is incomplete or damaged "
                              f"({error_summary(e)}); rerun its pretraining command") from None
    abstract = jax.eval_shape(lambda: trunk.init(jax.random.PRNGKey(0),
                                                 jnp.zeros((2, *input_shape)), train=False))
    params = {"encoder": encoder_vars["params"]}
    params.update({k: saved["params"].get(k) for k in abstract["params"] if k != "encoder"})
    stats = {"encoder": encoder_vars["batch_stats"]} if encoder_vars["batch_stats"] else {}
    stats.update({k: (saved.get("batch_stats") or {}).get(k)
                  for k in abstract.get("batch_stats", {}) if k != "encoder"})
    got = {"params": params, "batch_stats": stats}
    want = {"params": abstract["params"], "batch_stats": abstract.get("batch_stats", {})}
    shape = lambda t: jax.tree.map(lambda a: tuple(a.shape), t, is_leaf=lambda a: a is None)  # noqa: E731
    if shape(got) != shape(want):
        raise CheckpointError(f"the projector in {path} does not fit this encoder "
                              "(layers or shapes differ); rerun its pretraining command")
    return jax.device_put(got, parallel.replicated(mesh))


def encoder_variables(encoder: nn.Module, source: EncoderSource, input_shape: tuple[int, ...],
                      mesh: Any, seed: int) -> dict[str, Any]:
    """`{"params", "batch_stats"}` of the encoder, restored (or initialised), replicated.

    Raises:
      CheckpointError: the saved encoder does not fit the encoder built from the spec.
    """
    rep = parallel.replicated(mesh)
    # An encoder read at an intermediate stage (`feature_layer`) holds every stage: the
    # saved encoder's, which its later stages simply do not use.
    whole = encoder.clone(feature_layer=0) if getattr(encoder, "feature_layer", 0) else encoder

    def init():
        v = whole.init(jax.random.PRNGKey(seed), jnp.zeros((2, *input_shape)), train=False)
        return {"params": v["params"], "batch_stats": v.get("batch_stats", {})}

    if source.enc_dir is None:
        return jax.jit(init, out_shardings=rep)()
    abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=rep),
                            jax.eval_shape(init))
    restored = restore_encoder(source.enc_dir, abstract)
    want = jax.tree.map(lambda s: (s.shape, str(s.dtype)), abstract)
    got = jax.tree.map(lambda a: (a.shape, str(a.dtype)), restored)
    if want != got:
        raise CheckpointError(
            f"the encoder in {source.enc_dir} does not match the {source.encoder_cfg['name']!r} "
            f"encoder of its {ENCODER_SPEC} (parameter shapes differ); re-export it")
    return restored
