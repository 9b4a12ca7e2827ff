"""MoCo v2: contrast queries with a momentum key encoder's keys and a queue of negatives.

The query encoder (encoder + 2-layer MLP head, 2048 → 128, no BN in the head) embeds
the first view; the key encoder — an EMA of the query encoder with momentum m = 0.999
(`state.target_params`) — embeds the second view. The InfoNCE loss at temperature 0.2
uses the matching key as the positive and the K keys in the queue as negatives
(`ssljax.losses.info_nce`), averaged over the global batch.

The queue lives in `state.extra`: `queue` [K, d] (L2-normalised keys; initialised with
normalised Gaussian noise as the reference code) and `queue_ptr` (int32). After each
step the keys of the whole global batch — all-gathered from every device in global row
order, so every device's queue stays identical — replace the oldest rows (FIFO, the
pointer wraps around to 0). K must be a multiple of the global batch size (checked at
construction), as in the reference code.

Shuffle-BN (`config.bn="shuffle"`): the query encoder uses per-device BatchNorm, and
the key encoder runs on a batch permuted across devices (`parallel.shuffle_rows`) whose
keys are then put back in order (`parallel.unshuffle_rows`), so that a query and its
positive key never share BN statistics — the intra-batch "cheating" the MoCo paper
describes (Section 3.3). With `bn="global"` both encoders use cross-device BN and no
shuffle is needed; `bn="local"` uses per-device BN for both without shuffling.

Split BN (`shuffle_groups`, default 8): shuffle-BN needs several BN batches. With fewer
devices than `shuffle_groups`, each device splits its rows into `shuffle_groups / D`
groups with BatchNorm statistics of their own, in both encoders, as the reference
CIFAR-10 demo's `SplitBatchNorm` emulates 8 GPUs on one (the running averages are the
mean over groups). The groups are contiguous blocks of rows, so one device with G groups
computes exactly what G devices do (the demo's `view(-1, C·G, H, W)` interleaves rows
g, g + G, ... instead: the same statistics for rows in random order). The keys are
shuffled across all rows first, so a key is normalised with statistics of another group
than its query's (with probability 1 − 1/G). `shuffle_groups=1` turns it
off; then on one device shuffle-BN cannot separate a query from its key and the program
says so in a warning at start-up.

Loss direction: one direction (query = view 1, key = view 2), as in the MoCo v2 paper
and code. `config.symmetric=True` (an option, not the paper's recipe) adds the loss with
the views swapped and enqueues the keys of both views (K must then be a multiple of
twice the global batch), as the reference CIFAR-10 demo (`--symmetric`) does; it
"behaves like 2x epochs of the asymmetric counterpart" (that demo's notes).

Optimizer (the authors' `main_moco.py`): SGD with weight decay on every parameter, BN
and biases included (`optimizer.exclude_bn_and_bias=False`, the default here).

References: He et al., "Momentum Contrast for Unsupervised Visual Representation
Learning", CVPR 2020 (arXiv:1911.05722), Algorithm 1 and Section 3.3; Chen et al.,
"Improved Baselines with Momentum Contrastive Learning" (arXiv:2003.04297).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ssljax import losses, parallel
from ssljax.errors import ConfigError
from ssljax.methods.queue import check_queue_size, enqueue, gather_keys, init_queue
from ssljax.methods.target import EMAMethod, ema_defaults
from ssljax.parallel import DATA_AXIS

_QUEUE_SEED = 0x5155  # folded into PRNGKey(config.seed) for the random initial queue


class MoCoV2(EMAMethod):
    """MoCo v2 with a momentum key encoder, a queue of negatives and (optional) shuffle-BN.

    Config: `queue_size` (65536), `loss.temperature` (0.2), `ema.tau_base` (0.999,
    `ema.schedule` "constant"), `head` (hidden (2048,), out 128, use_bn False), `bn`
    ("shuffle" for the paper's shuffle-BN), `shuffle_groups` (8: BN groups emulated on
    fewer devices), `symmetric` (False).
    """

    name = "mocov2"
    defaults = {"head.hidden_dims": (2048,), "head.out_dim": 128, "head.use_bn": False,
                "loss.temperature": 0.2, "queue_size": 65536, "symmetric": False,
                "shuffle_groups": 8,
                # torch.optim.SGD(model.parameters(), ...): BN and biases decay too.
                "optimizer.exclude_bn_and_bias": False,
                **ema_defaults(0.999, "constant")}

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        self.shuffle_bn = config.bn == "shuffle"
        self.groups = int(config.shuffle_groups)
        if self.groups < 1:
            raise ConfigError(f"shuffle_groups={self.groups} must be >= 1 (1: no split BN)")
        self.symmetric = bool(config.symmetric)
        self.queue_size = int(config.queue_size)
        check_queue_size(self.queue_size, config.batch_size * (2 if self.symmetric else 1))
        self.temperature = float(config.loss.temperature)
        # The key encoder is the whole query network (MoCo v2 has no predictor).

    def device_warnings(self, num_devices):
        if self.shuffle_bn and num_devices == 1 and self.groups == 1:
            return ["bn=shuffle on one device permutes rows within the device, which leaves "
                    "the key encoder's BatchNorm statistics unchanged (no protection against "
                    "the leak of MoCo §3.3); set shuffle_groups=8 (split BN), run on several "
                    "devices (--cpu_devices=N on a CPU) or use bn=global"]
        return []

    def init_extra(self, feature_dims):
        key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), _QUEUE_SEED)
        return init_queue(key, self.queue_size, feature_dims["proj"])

    def splits(self, local_rows: int) -> int:
        """BN groups per device: `shuffle_groups / devices` under shuffle-BN (at least 1)."""
        if not self.shuffle_bn:
            return 1
        devices = max(1, self.config.batch_size // local_rows)
        return max(1, self.groups // devices)

    def _keys(self, t_params, t_stats, x, rng):
        """Normalised keys [n, d] of this device's rows and the key encoder's new BN stats."""
        splits = self.splits(x.shape[0])
        if self.shuffle_bn:
            xs, perm = parallel.shuffle_rows(x, rng)
            out, stats = split_apply(self.target.apply, t_params, t_stats, xs, splits)
            k = parallel.unshuffle_rows(out["proj"], perm)
        else:
            out, stats = self.target.apply(t_params, t_stats, x)
            k = out["proj"]
        return losses.l2_normalize(k), stats

    def _queries(self, params, batch_stats, x):
        return split_apply(self.apply, params, batch_stats, x, self.splits(x.shape[0]))

    def loss(self, params, state, views, rng):
        queue = lax.stop_gradient(state.extra["queue"])
        t_params, t_stats = state.target_params, state.target_batch_stats
        out1, batch_stats = self._queries(params, state.batch_stats, views[0])
        k2, t_stats = self._keys(t_params, t_stats, views[1], jax.random.fold_in(rng, 2))
        t = self.temperature
        if self.symmetric:
            out2, batch_stats = self._queries(params, batch_stats, views[1])
            k1, t_stats = self._keys(t_params, t_stats, views[0], jax.random.fold_in(rng, 1))
            local = (losses.info_nce(out1["proj"], k2, queue, temperature=t)
                     + losses.info_nce(out2["proj"], k1, queue, temperature=t))
            new_keys = jnp.concatenate([gather_keys(k1), gather_keys(k2)])
        else:
            local = losses.info_nce(out1["proj"], k2, queue, temperature=t)
            new_keys = gather_keys(k2)
        return lax.pmean(local, DATA_AXIS), self.target_output(
            state, batch_stats, out1, self.target.replicate(t_stats), keys=new_keys)

    def after_update(self, state, out):
        queue, ptr = enqueue(state.extra["queue"], state.extra["queue_ptr"], out.carry["keys"])
        state = super().after_update(state, out)
        return state.replace(extra={**state.extra, "queue": queue, "queue_ptr": ptr})


def split_apply(apply, params, stats, x, splits: int):
    """`apply(params, stats, x)` with BatchNorm statistics per group of rows (split BN).

    Group g is rows g·n/G ... (g + 1)·n/G − 1 (G = `splits`): the rows G devices would
    hold, so one device with G groups computes what G devices compute. Each group is
    normalised with its own batch statistics and the new running averages are the mean
    over groups, as the MoCo CIFAR-10 demo's `SplitBatchNorm`
    (`running_mean_split.view(G, C).mean(0)`). The parameters are shared.

    Args:
      apply: `(params, stats, x) -> (outputs pytree of [n, ...] arrays, new stats)`.
      params, stats: as `apply` takes them.
      x: [n, ...] rows, n divisible by `splits`.
      splits: G (1: a plain call).

    Returns:
      (outputs in the rows' order, running statistics averaged over the groups).
    """
    if splits == 1:
        return apply(params, stats, x)
    n = x.shape[0]
    if n % splits:
        raise ConfigError(f"split BN: {n} rows per device do not split into {splits} groups; "
                          "pick batch_size and shuffle_groups so that they do")
    groups = x.reshape(splits, n // splits, *x.shape[1:])
    out, new = jax.vmap(lambda g: apply(params, stats, g))(groups)
    out = jax.tree.map(lambda o: o.reshape(n, *o.shape[2:]), out)
    return out, jax.tree.map(lambda s: jnp.mean(s, axis=0), new)
