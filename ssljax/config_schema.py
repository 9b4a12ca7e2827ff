"""Checks a loaded config against the schema of `ssljax.config_base`, before any work starts.

`resolve(config, program)` returns a complete copy of the config — the program's defaults
(for pretraining: the common keys plus the method's) updated with the config's values —
after three checks:

1. every key exists in the schema; an unknown key is a one-line `ConfigError` naming it
   and the closest existing key (`config key 'optimizer.momentun' does not exist (did you
   mean 'optimizer.momentum'?)`). Encoder attributes are checked against the fields of the
   encoder module that `encoder.name` selects;
2. every value has the default's type and lies in its range (positive batch size,
   temperatures > 0, probabilities, enumerations such as `bn` or `nonfinite`);
3. keys that exist but that the chosen method, optimizer or augmentation preset does not
   read (e.g. `optimizer.momentum` with `adamw`), set to a non-default value, produce one
   warning line each (returned, and logged by the programs), not silence.

Programs then read `config.key` directly: there is one default per key, here.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import Any

import ml_collections

from ssljax import config_base
from ssljax.errors import ConfigError
from ssljax.registry import did_you_mean

_log = logging.getLogger("ssljax")

PROGRAMS = ("pretrain", "linear_eval", "finetune")
_BASES: dict[str, Callable[[], ml_collections.ConfigDict]] = {
    "linear_eval": config_base.linear_eval_base,
    "finetune": config_base.finetune_base,
}
# Keys every optimizer reads; the others are read by the optimizers `optim.OPTIMIZERS` names.
_OPTIMIZER_COMMON = ("name", "base_lr", "lr_scaling", "warmup_epochs", "end_lr", "freeze",
                     "weight_decay_end", "clip_norm_per_tensor", "fixed_lr",
                     "no_decay_lr_scale", "layer_decay", "patch_embed_lr_mult")
_AUGMENT_COMMON = ("preset", "image_size", "crop_scale", "num_local", "local_size",
                   "local_crop_scale", "mean", "std")


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a.b": leaf}` for a nested dict / ConfigDict (an empty block is a leaf `{}`)."""
    if isinstance(tree, ml_collections.ConfigDict):
        tree = tree.to_dict()
    if not isinstance(tree, dict) or (prefix and not tree):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else k))
    return out


# ------------------------------------------------------------------------ value checks


def _one_of(*choices):
    return lambda v: v in choices, f"one of {', '.join(map(repr, choices))}"


def _ranges() -> dict[str, tuple[Callable[[Any], bool], str]]:
    positive = (lambda v: v > 0, "> 0")
    nonneg = (lambda v: v >= 0, ">= 0")
    at_least_one = (lambda v: v >= 1, ">= 1")
    unit = (lambda v: 0 <= v <= 1, "in [0, 1]")
    below_one = (lambda v: 0 <= v < 1, "in [0, 1)")
    groups = {
        positive: ("batch_size", "head.out_dim", "predictor.out_dim", "probe.learning_rate",
                   "eval.knn_temperature", "eval.batch_size", "loss.temperature",
                   "loss.student_temp", "loss.teacher_temp", "loss.warmup_teacher_temp",
                   "eval_batch_size", "loss.sigma", "loss.epsilon", "loss.base_temperature",
                   "head.num_prototypes", "nnclr.queue_size", "loss.sinkhorn_iterations"),
        nonneg: ("num_epochs", "seed", "eval_every_steps", "augment.image_size",
                 "augment.strength", "augment.num_local", "augment.local_size",
                 "optimizer.base_lr", "optimizer.end_lr", "optimizer.warmup_epochs",
                 "optimizer.weight_decay", "eval.max_train_examples", "eval.max_eval_examples",
                 "directpred.eps", "swav.freeze_prototypes_epochs", "swav.queue_length",
                 "swav.queue_start_epoch"),
        at_least_one: ("keep_checkpoints", "checkpoint_every_steps", "log_every_steps",
                       "eval.knn_k", "eval.linear_epochs"),
        unit: ("ema.tau_base", "loss.center_momentum"),
        below_one: ("optimizer.momentum", "optimizer.b1", "optimizer.b2", "directpred.rho"),
    }
    out = {key: check for check, keys in groups.items() for key in keys}
    out.update({
        "bn": _one_of("global", "local", "shuffle"),
        "nonfinite": _one_of("stop", "skip"),
        "encoder.dtype": _one_of("float32", "bfloat16"),
        "optimizer.lr_scaling": _one_of("linear", "sqrt", "none"),
        "eval.encoder": _one_of("online", "target"),
        "ema.schedule": _one_of("cosine", "constant", "linear"),
        "protocol": _one_of("cached", "paper"),
        "embedding_plot": _one_of("pca", "tsne", "both"),
        "directpred.mode": _one_of("eigen", "copy"),
        "label_fraction": (lambda v: 0 < v <= 1, "in (0, 1], e.g. 0.01, 0.1 or 1.0"),
    })
    return out


# key -> (predicate, what the value must be); checked when the value is not the default.
RANGES = _ranges()


def _check_value(key: str, value: Any, default: Any) -> Any:
    """`value` as the default's type; a `ConfigError` if it cannot be or is out of range."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"config key {key}={value!r} must be True or False")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConfigError(f"config key {key}={value!r} must be an integer")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key {key}={value!r} must be a number")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"config key {key}={value!r} must be finite")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"config key {key}={value!r} must be a string")
    elif isinstance(default, tuple):
        if isinstance(value, list):
            value = tuple(value)
        if not isinstance(value, tuple):
            raise ConfigError(f"config key {key}={value!r} must be a tuple, e.g. (0.2, 1.0)")
    check = RANGES.get(key)
    if check is not None and value != default:  # a default is valid by definition
        ok, what = check
        if not ok(value):
            raise ConfigError(f"config key {key}={value!r} must be {what}")
    return value


# ------------------------------------------------------------------------ resolution


def _encoder_fields(name: str) -> set[str]:
    """Attributes of the encoder module `name` a config may set (empty if unknown)."""
    from ssljax import models  # noqa: PLC0415

    if name not in models.ENCODERS:
        return set()
    module = models.get_encoder(name)
    fixed = {"dtype", "bn_axis_name", "parent", "name"}
    # Fields without a default are what the constructor fixes (a ResNet's stage sizes); a
    # named ViT's sizes are defaults a config may change (`models.vit._sized`).
    sizes = {"dim", "depth", "num_heads"} if isinstance(module, models.ViT) else set()
    return {f.name for f in dataclasses.fields(module) if f.name not in fixed
            and (f.name in sizes or f.default is not dataclasses.MISSING
                 or f.default_factory is not dataclasses.MISSING)}


def _unknown(key: str, known: Any) -> ConfigError:
    return ConfigError(f"config key '{key}' does not exist{did_you_mean(key, known)}; check "
                       "the spelling (--show_config prints every key of a config)")


def _ignored(config: ml_collections.ConfigDict, defaults: dict[str, Any],
             values: dict[str, Any], method: Any) -> list[str]:
    """Warning lines for non-default keys the chosen components do not read."""
    from ssljax import augment, optim  # noqa: PLC0415

    def unread(block: str, reads: set[str], what: str) -> list[str]:
        n = len(block) + 1
        return [f"{key}={v!r} is ignored by {what}" for key, v in values.items()
                if key.startswith(block + ".") and key[n:] not in reads and v != defaults[key]]

    lines = []
    opt = values.get("optimizer.name")
    if opt in optim.OPTIMIZERS:
        lines += unread("optimizer", set(_OPTIMIZER_COMMON) | set(optim.OPTIMIZERS[opt].reads),
                        f"optimizer {opt!r}")
    preset = values.get("augment.preset")
    if preset in augment.PRESETS:
        lines += unread("augment", set(_AUGMENT_COMMON) | set(augment.PRESETS[preset].options),
                        f"augmentation preset {preset!r}")
    if method is not None:
        for key in method.ignores:
            if key in values and values[key] != defaults[key]:
                lines.append(f"{key}={values[key]!r} is ignored by method {config.method!r}")
    return lines


def resolve(config: Any, program: str = "pretrain",
            warn: bool = True) -> tuple[ml_collections.ConfigDict, list[str]]:
    """The complete, checked config of `program` and the warning lines.

    Args:
      config: the loaded config (ConfigDict or dict).
      program: "pretrain", "linear_eval" or "finetune".
      warn: also log each warning line (`ssljax: warning: ...`).

    Returns:
      (a new unlocked ConfigDict with every key of the schema, warnings).

    Raises:
      ConfigError: an unknown key, a value of the wrong type or out of range, a config of
        another program.
    """
    if program not in PROGRAMS:
        raise ValueError(f"program must be one of {PROGRAMS}, got {program!r}")
    user = flatten(config)
    method = None
    if program == "pretrain":
        if "init_from" in user and "method" not in user:
            raise ConfigError("this looks like a linear_eval/finetune config (it has init_from); "
                              "pretrain takes configs/<method>_<dataset>.py")
        from ssljax.methods import METHODS  # noqa: PLC0415

        name = user.get("method", "simclr")
        method = METHODS.lookup(name)
        base = config_base.pretrain_base(name)
        other_methods = set()
        for other in METHODS.values():
            other_methods |= set(other.defaults)
    else:
        if "method" in user and "init_from" not in user:
            raise ConfigError(f"this looks like a pretraining config; {program} takes "
                              f"configs/{program}_*.py (e.g. configs/{program}_mnist.py) with "
                              "--config.init_from=<pretrain workdir>")
        base = _BASES[program]()
        other_methods = set()
    defaults = flatten(base)
    enc_name = user.get("encoder.name", defaults.get("encoder.name", ""))
    enc_fields = _encoder_fields(enc_name) if enc_name else None
    out = base
    warnings = []
    for key, value in user.items():
        if key in defaults:
            default = defaults[key]
            config_base.set_dotted(out, key, _check_value(key, value, default))
        elif key.startswith("encoder.") and (enc_fields is None or key[8:] in enc_fields):
            config_base.set_dotted(out, key, value)
        elif key.startswith("encoder.") and enc_fields:
            raise ConfigError(
                f"config key '{key}' is not an attribute of encoder {enc_name!r}"
                f"{did_you_mean(key[8:], enc_fields)}; its attributes are "
                f"{', '.join(sorted(enc_fields))}")
        elif key in other_methods:
            warnings.append(f"{key}={value!r} is ignored by method {user.get('method')!r}")
        else:
            raise _unknown(key, list(defaults))
    values = flatten(out)
    defaults = {k: defaults.get(k, v) for k, v in values.items()}
    warnings += _ignored(out, defaults, values, method)
    if warn:
        for line in warnings:
            _log.warning("config: %s", line)
    return out, warnings
