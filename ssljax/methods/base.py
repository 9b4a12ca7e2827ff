"""What every method shares: the online network, its BN mode, and the hooks.

A method says (1) which views it needs, (2) how they go through the online (and
target) networks and which loss applies, and (3) what happens after the
optimizer step (EMA target, queue, center). The engine in `ssljax.engine` does
the rest — augmentation, gradients, the optimizer, the online probe, NaN guards —
identically for every method.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from ssljax import augment, models
from ssljax.errors import ConfigError
from ssljax.parallel import DATA_AXIS

BN_MODES = ("global", "local", "shuffle")


class SSLModel(nn.Module):
    """Encoder → projector (→ predictor).

    Returns a dict: `features` [N, D] (encoder output, what evaluation uses),
    `proj` [N, P] (projector output) and, when there is a predictor, `pred`.
    """

    encoder: nn.Module
    projector: nn.Module | None = None
    predictor: nn.Module | None = None

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        h = self.encoder(x, train=train)
        out = {"features": h.astype(jnp.float32)}
        z = self.projector(h, train=train) if self.projector is not None else h
        out["proj"] = z.astype(jnp.float32)
        if self.predictor is not None:
            out["pred"] = self.predictor(z, train=train).astype(jnp.float32)
        return out


@dataclasses.dataclass
class StepOutput:
    """What a method's loss returns besides the scalar loss.

    Attributes:
      batch_stats: the online network's updated BatchNorm statistics.
      features: encoder features [n, D] of the first view (for the online probe).
      embeddings: embeddings [n, P] used for the health monitor.
      metrics: extra global scalars to log.
      carry: anything `after_update` needs (e.g. keys to enqueue, teacher logits).
    """

    batch_stats: Any
    features: jax.Array
    embeddings: jax.Array
    metrics: dict[str, jax.Array]
    carry: Any = None


jax.tree_util.register_dataclass(
    StepOutput,
    data_fields=["batch_stats", "features", "embeddings", "metrics", "carry"],
    meta_fields=[],
)


def bn_axis(config: ml_collections.ConfigDict) -> str | None:
    """The BatchNorm axis name for the configured BN mode (`None` = local statistics)."""
    mode = config.get("bn", "global")
    if mode not in BN_MODES:
        raise ConfigError(f"bn={mode!r} is not one of {BN_MODES}; set --config.bn=global")
    return DATA_AXIS if mode == "global" else None


def compute_dtype(config: ml_collections.ConfigDict) -> Any:
    """The activation dtype from `config.encoder.dtype` ('float32' or 'bfloat16')."""
    name = config.encoder.get("dtype", "float32")
    if name not in ("float32", "bfloat16"):
        raise ConfigError(f"encoder.dtype={name!r} must be 'float32' or 'bfloat16'")
    return jnp.bfloat16 if name == "bfloat16" else jnp.float32


def build_encoder(config: ml_collections.ConfigDict, axis_name: str | None) -> nn.Module:
    """The configured encoder; unknown names become a one-line `ConfigError`."""
    kwargs = {k: v for k, v in config.encoder.to_dict().items() if k not in ("name", "dtype")}
    try:
        return models.get_encoder(
            config.encoder.name, dtype=compute_dtype(config), bn_axis_name=axis_name, **kwargs
        )
    except (ValueError, TypeError) as e:
        raise ConfigError(f"encoder: {e}") from None


def build_head(
    head_cfg: ml_collections.ConfigDict, config: ml_collections.ConfigDict, axis_name: str | None
) -> nn.Module:
    """An `MLPHead` from a config block: hidden_dims, out_dim, use_bn, last_bn, last_bn_affine."""
    return models.MLPHead(
        hidden_dims=tuple(head_cfg.hidden_dims),
        out_dim=head_cfg.out_dim,
        use_bn=head_cfg.get("use_bn", True),
        last_bn=head_cfg.get("last_bn", False),
        last_bn_affine=head_cfg.get("last_bn_affine", True),
        dtype=compute_dtype(config),
        bn_axis_name=axis_name,
    )


def view_specs(config: ml_collections.ConfigDict, image_size: int) -> tuple[Any, ...]:
    """The augmentation presets named by `config.augment.preset`."""
    preset = config.augment.preset
    size = config.augment.get("image_size", 0) or image_size
    if preset == "simclr":
        return augment.simclr_views(
            size,
            strength=config.augment.get("strength", 1.0),
            blur=config.augment.get("blur", True),
        )
    if preset == "digits":
        return augment.digits_views(size)
    if preset == "byol":
        return augment.byol_views(size)
    if preset == "mocov2":
        return augment.mocov2_views(size)
    if preset == "dino":
        return augment.dino_views(
            global_size=size,
            local_size=config.augment.get("local_size", 0) or max(8, (size * 96) // 224),
            num_local=config.augment.get("num_local", 6),
        )
    raise ConfigError(
        f"augment.preset={preset!r} is unknown; use one of simclr, byol, mocov2, dino, digits"
    )


class Method(abc.ABC):
    """Base class: a method without target network or extras.

    Subclasses set `name`, build `self.model` in `__init__`, and implement `loss`.
    """

    name = "base"
    has_target = False

    def __init__(self, config: ml_collections.ConfigDict, num_classes: int):
        self.config = config
        self.num_classes = num_classes
        self.axis = bn_axis(config)
        self.total_steps = 1
        self.steps_per_epoch = 1

    def bind_schedule(self, total_steps: int, steps_per_epoch: int) -> None:
        """Tells the method the run's length (EMA and temperature schedules use it)."""
        self.total_steps = max(1, int(total_steps))
        self.steps_per_epoch = max(1, int(steps_per_epoch))

    def views(self, image_size: int) -> tuple[Any, ...]:
        """Augmentation specs, one per view."""
        return view_specs(self.config, image_size)

    def init_extra(self, feature_dims: dict[str, int]) -> dict[str, jax.Array]:
        """Method-specific arrays of the train state (queue, center)."""
        del feature_dims
        return {}

    @abc.abstractmethod
    def loss(
        self, params: Any, state: Any, views: tuple[jax.Array, ...], rng: jax.Array
    ) -> tuple[jax.Array, StepOutput]:
        """Returns the GLOBAL loss (same on every device) and a `StepOutput`.

        Called inside shard_map over `"data"` with this device's rows of each view.
        """

    def after_update(self, state: Any, out: StepOutput) -> Any:
        """Updates targets/extras after the optimizer step (default: nothing)."""
        del out
        return state

    def apply(self, params: Any, batch_stats: Any, x: jax.Array, *, train: bool = True):
        """Runs the online model; returns (outputs dict, new batch_stats)."""
        variables = {"params": params}
        if batch_stats:
            variables["batch_stats"] = batch_stats
        if train and batch_stats:
            out, updates = self.model.apply(variables, x, train=True, mutable=["batch_stats"])
            return out, updates["batch_stats"]
        return self.model.apply(variables, x, train=train), batch_stats
