"""What every method shares: the networks, one model-apply, the view forward and the hooks.

A method says (1) which views it needs (`views`, from `config.augment` through
`ssljax.augment.make_views`), (2) how they go through the online (and target) networks
and which loss applies (`loss`), and (3) what happens after the optimizer step
(`after_update`: EMA target, queue, center). The engine in `ssljax.engine` does the rest
— augmentation, gradients, the optimizer, the online probe, NaN guards — identically for
every method. EMA targets live in `ssljax.methods.target`, multi-crop networks in
`ssljax.methods.multicrop`.

A method declares its config keys in `defaults` (dotted keys → defaults, added to the
common schema of `ssljax.config_base` by `pretrain_base(method)`) and the common keys it
does not read in `ignores` (set to a non-default value, they produce a warning).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from ssljax import augment, models, parallel
from ssljax.errors import ConfigError
from ssljax.evaluate.health import global_embedding_std
from ssljax.parallel import DATA_AXIS


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
      features: encoder features [n, D] of the first view (the online probe's input).
      metrics: extra global scalars to log (`embedding_std`: `global_embedding_std` of
        the projector output of the first view; method-specific ones such as `tau`).
      carry: what `after_update` needs (EMA decay, target statistics, keys to enqueue).
    """

    batch_stats: Any
    features: jax.Array
    metrics: dict[str, jax.Array]
    carry: Any = None


jax.tree_util.register_dataclass(
    StepOutput, data_fields=["batch_stats", "features", "metrics", "carry"], meta_fields=[]
)


# --------------------------------------------------------------------------- building blocks


def bn_axis(config: ml_collections.ConfigDict) -> str | None:
    """The BatchNorm axis of `config.bn`: "data" for global BN, None for local/shuffle."""
    return DATA_AXIS if config.bn == "global" else None


def compute_dtype(config: ml_collections.ConfigDict) -> Any:
    """The activation dtype of `config.encoder.dtype` ('float32' or 'bfloat16')."""
    return jnp.bfloat16 if config.encoder.dtype == "bfloat16" else jnp.float32


def build_encoder(config: ml_collections.ConfigDict, axis_name: str | None) -> nn.Module:
    """The configured encoder; a bad name or attribute is a one-line `ConfigError`."""
    try:
        return models.encoder_from_block(config.encoder.to_dict(), axis_name)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"encoder: {e}") from None


def build_head(
    head_cfg: ml_collections.ConfigDict, config: ml_collections.ConfigDict, axis_name: str | None
) -> nn.Module:
    """An `MLPHead` from a config block: hidden_dims, out_dim, use_bn, last_bn, last_bn_affine,
    last_bn_center, last_bias."""
    return models.MLPHead(
        hidden_dims=tuple(head_cfg.hidden_dims),
        out_dim=head_cfg.out_dim,
        use_bn=head_cfg.use_bn,
        last_bn=head_cfg.last_bn,
        last_bn_affine=head_cfg.last_bn_affine,
        last_bn_center=head_cfg.get("last_bn_center", True),
        last_bias=head_cfg.get("last_bias", True),
        dtype=compute_dtype(config),
        bn_axis_name=axis_name,
    )


def build_predictor(config: ml_collections.ConfigDict, axis_name: str | None) -> nn.Module:
    """The predictor MLP of `config.predictor`; its output must match the projector's."""
    if config.predictor.out_dim != config.head.out_dim:
        raise ConfigError(
            f"predictor.out_dim={config.predictor.out_dim} must equal head.out_dim="
            f"{config.head.out_dim} (the predictor regresses the projection)"
        )
    return build_head(config.predictor, config, axis_name)


def predictor_defaults(hidden: int, out: int, *, last_bn: bool = False,
                       last_bn_affine: bool = True) -> dict[str, Any]:
    """`Method.defaults` entries of a `predictor` block (an `MLPHead`)."""
    return {"predictor.hidden_dims": (hidden,), "predictor.out_dim": out,
            "predictor.use_bn": True, "predictor.last_bn": last_bn,
            "predictor.last_bn_affine": last_bn_affine, "predictor.last_bias": True}


def view_specs(config: ml_collections.ConfigDict, image_size: int) -> tuple[augment.ViewSpec, ...]:
    """The views of `config.augment` (preset, crop overrides, multi-crop) at `image_size`."""
    a = config.augment
    preset = augment.PRESETS.lookup(a.preset)
    try:
        return augment.make_views(
            a.preset, a.image_size or image_size, options={k: a[k] for k in preset.options},
            crop_scale=a.crop_scale, num_local=a.num_local, local_size=a.local_size,
            local_crop_scale=a.local_crop_scale, mean=a.mean, std=a.std,
        )
    except ValueError as e:
        raise ConfigError(f"augment: {e}") from None


# The `head` keys, which methods without an MLP projector (the reconstruction and
# colorization methods, CPC) list in their `ignores`.
HEAD_KEYS = ("head.hidden_dims", "head.out_dim", "head.use_bn", "head.last_bn",
             "head.last_bn_affine", "head.last_bn_center", "head.last_bias")


def example_streams(rng: jax.Array, n_local: int, count: int) -> tuple[jax.Array, ...]:
    """`count` independent per-example key arrays `[n_local]` for this device's rows.

    Keyed by the examples' global rows (`augment.example_keys` of the step's `rng`), so
    the random choices of a pretext task (noise, holes, tiles, permutations) are the same
    on 1 or 8 devices. Call inside shard_map.
    """
    keys = augment.example_keys(rng, 0, 0, parallel.local_row_indices(n_local))
    if count == 1:
        return (keys,)
    return tuple(jax.vmap(lambda k, i=i: jax.random.fold_in(k, i))(keys) for i in range(count))


# --------------------------------------------------------------------------- running networks


def apply_model(
    model: nn.Module, params: Any, batch_stats: Any, x: Any, *, train: bool = True,
    rngs: dict[str, jax.Array] | None = None, **kwargs: Any,
) -> tuple[Any, Any]:
    """Runs `model` on `x`; returns (outputs, updated batch_stats).

    In training mode BatchNorm uses the batch statistics of `x` and the returned statistics
    are the updated running averages; otherwise (or without BN) they are returned unchanged.

    Args:
      model: the network.
      params: its parameters.
      batch_stats: its BatchNorm running averages (`{}` without BN).
      x: its input (`[n, H, W, C]`, or a list of crops for a multi-crop model).
      train: training mode (batch statistics, stochastic depth).
      rngs: PRNG streams, e.g. `{"dropout": key}` for stochastic depth.
      **kwargs: further call arguments of the model (token masks, indices).
    """
    variables = {"params": params}
    if batch_stats:
        variables["batch_stats"] = batch_stats
    if train and batch_stats:
        out, updates = model.apply(variables, x, train=True, mutable=["batch_stats"], rngs=rngs,
                                   **kwargs)
        return out, updates["batch_stats"]
    return model.apply(variables, x, train=train, rngs=rngs, **kwargs), batch_stats


def apply_views(
    model: nn.Module, params: Any, batch_stats: Any, views: Sequence[jax.Array], *,
    train: bool = True,
) -> tuple[list[Any], Any]:
    """Runs each view through `model` separately, threading the BN running averages.

    BatchNorm normalises each view with its own batch statistics, as the reference code of
    BYOL, SimSiam, MoCo v3, Barlow Twins and VICReg does (one backbone call per view).

    Args:
      model: the network.
      params: its parameters.
      batch_stats: its BatchNorm running averages (`{}` without BN).
      views: arrays `[n, H, W, C]`, one per view.
      train: training mode.

    Returns:
      (one output per view, batch_stats after all views).
    """
    outs = []
    for x in views:
        out, batch_stats = apply_model(model, params, batch_stats, x, train=train)
        outs.append(out)
    return outs, batch_stats


def embedding_std(z: jax.Array) -> jax.Array:
    """The collapse monitor every method logs: `global_embedding_std` over "data"."""
    return global_embedding_std(z, DATA_AXIS)


# --------------------------------------------------------------------------- the method


class Method(abc.ABC):
    """Base class: a method without target network or extras.

    Subclasses set `name` and `defaults` and implement `loss`. The online network is
    `build_model()` (encoder → projector, → predictor when `uses_predictor`); override it
    for another architecture. Methods with an EMA target derive from
    `ssljax.methods.target.EMAMethod`.
    """

    name = "base"
    # Dotted config keys this method adds to the common schema, or whose default it changes.
    defaults: ClassVar[dict[str, Any]] = {}
    # Common config keys this method does not read (a non-default value is warned about).
    ignores: ClassVar[tuple[str, ...]] = ()
    # Whether the online network ends with a predictor (`config.predictor`).
    uses_predictor: ClassVar[bool] = False
    # Whether `loss` takes the batch's labels (`labels=` int32 [n]): supervised methods.
    uses_labels: ClassVar[bool] = False

    def __init__(self, config: ml_collections.ConfigDict, num_classes: int):
        self.config = config
        self.num_classes = num_classes
        self.axis = bn_axis(config)
        self.target = None
        self.total_steps = 1
        self.steps_per_epoch = 1
        self.model = self.build_model()

    @property
    def has_target(self) -> bool:
        """Whether the state holds an EMA target network."""
        return self.target is not None

    def bind_schedule(self, total_steps: int, steps_per_epoch: int) -> None:
        """Tells the method the run's length (EMA and temperature schedules use it)."""
        self.total_steps = max(1, int(total_steps))
        self.steps_per_epoch = max(1, int(steps_per_epoch))

    def views(self, image_size: int) -> tuple[augment.ViewSpec, ...]:
        """Augmentation specs, one per view (`config.augment`)."""
        return view_specs(self.config, image_size)

    def init_extra(self, feature_dims: dict[str, int]) -> dict[str, jax.Array]:
        """Method-specific arrays of the train state (queue, center)."""
        del feature_dims
        return {}

    def init_target(self, params: Any, batch_stats: Any) -> tuple[Any, Any]:
        """(target params, target batch_stats) at step 0, or (None, None) without a target."""
        if self.target is None:
            return None, None
        return self.target.init(params, batch_stats)

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

    def frozen(self, step: jax.Array) -> dict[str, jax.Array]:
        """Parameter subtrees held fixed at `step`: `{path component: traced bool}`.

        While a flag is True the engine keeps those parameters and their optimizer state
        unchanged (no gradient step, no weight decay, no momentum), as PyTorch does for a
        parameter whose `.grad` is None (SwAV's prototypes in the first epoch).
        """
        del step
        return {}

    def device_warnings(self, num_devices: int) -> list[str]:
        """One-line warnings about this method on a mesh of `num_devices` devices (all
        processes), logged at start-up (default: none)."""
        del num_devices
        return []

    def encoder_channels(self, data_channels: int) -> int | None:
        """Channels the encoder takes when evaluated and exported, for images with
        `data_channels`: None (default) keeps the images' own; colorization's encoder
        sees grayscale (1), so evaluation feeds it the luma of colour images."""
        del data_channels
        return None

    def eval_encoder_attrs(self) -> dict[str, Any]:
        """Encoder attributes that the evaluation and the exported encoder use on top of the
        trained configuration (CPC: its patch grid, `patch_px`/`patch_stride`). Default:
        none."""
        return {}

    def late_start(self) -> dict[str, int]:
        """Parameter subtrees whose optimizer starts late: `{path component: first step}`.

        Each gets an optimizer of its own (`ssljax.optim.make_optimizer(late_start=...)`),
        held with the parameters by `frozen` until that step, so that its first update is
        a fresh optimizer's (Adam's bias correction from step 1), as in PyTorch where the
        parameter had no `.grad` (DINO's last layer). Default: none.
        """
        return {}

    def own_optimizers(self) -> dict[str, Any]:
        """Top-level parameter subtrees trained by an optimizer of their own:
        `{subtree: optax.GradientTransformation}` (the context encoder's discriminator:
        Adam at its own rate). The config's optimizer, its schedules and weight decay
        apply to every other parameter (`ssljax.training.with_own_optimizers`). Default:
        none."""
        return {}

    def apply(self, params: Any, batch_stats: Any, x: Any, *, train: bool = True):
        """Runs the online model; returns (outputs dict, new batch_stats)."""
        return apply_model(self.model, params, batch_stats, x, train=train)

    def build_model(self) -> nn.Module:
        """Encoder → projector (`config.head`) → predictor (`config.predictor`) if used."""
        c = self.config
        predictor = build_predictor(c, self.axis) if self.uses_predictor else None
        return SSLModel(encoder=build_encoder(c, self.axis),
                        projector=build_head(c.head, c, self.axis), predictor=predictor)

    def forward_views(self, params: Any, state: Any, views: Sequence[jax.Array]
                      ) -> tuple[list[Any], Any]:
        """The online network on the first two views, one after the other (`apply_views`)."""
        return apply_views(self.model, params, state.batch_stats, views[:2])

    def forward_joint(self, params: Any, state: Any, views: Sequence[jax.Array]
                      ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array], Any]:
        """The first two views `[n, H, W, C]` through the online network in ONE batch of
        `2n` (BatchNorm statistics over both views, as SimCLR's reference code has them).

        Returns:
          (projections of view a `[n, d]`, of view b `[n, d]`, the first view's outputs
          (`features`, `proj`) for `output`, the new batch_stats).
        """
        n = views[0].shape[0]
        out, batch_stats = self.apply(params, state.batch_stats, jnp.concatenate(views[:2]))
        first = {"features": out["features"][:n], "proj": out["proj"][:n]}
        return out["proj"][:n], out["proj"][n:], first, batch_stats

    def output(self, batch_stats: Any, out: dict[str, jax.Array], **metrics: jax.Array
               ) -> StepOutput:
        """The `StepOutput` of a step whose first view's outputs are `out` (features, proj)."""
        return StepOutput(batch_stats=batch_stats, features=out["features"],
                          metrics={"embedding_std": embedding_std(out["proj"]), **metrics})
