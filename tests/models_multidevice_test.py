"""Cross-device BatchNorm: a model with `bn_axis_name="data"` inside shard_map over 8 devices
equals the single-device model on the whole batch (outputs, batch_stats and gradients).

Needs 8 (fake CPU) devices: the flag below works when this module is the first to import
jax; otherwise tests/conftest.py must have set it for the session.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from ssljax.models import MLPHead, SmallCNN  # noqa: E402

NUM_DEVICES = 8

pytestmark = pytest.mark.skipif(
    jax.device_count() < NUM_DEVICES,
    reason="needs XLA_FLAGS=--xla_force_host_platform_device_count=8 before jax is imported",
)


def _mesh():
    return jax.make_mesh(
        (NUM_DEVICES,), ("data",), axis_types=(jax.sharding.AxisType.Auto,),
        devices=jax.devices()[:NUM_DEVICES],
    )


@pytest.mark.parametrize("module", ["small_cnn", "mlp_head"])
def test_cross_device_batch_norm_matches_single_device(module):
    if module == "small_cnn":
        local = SmallCNN(channels=(4, 8), strides=(2, 2))
        x = jax.random.uniform(jax.random.key(0), (16, 8, 8, 1))
    else:
        local = MLPHead((8,), 4, last_bn=True)
        x = jax.random.normal(jax.random.key(0), (16, 6))
    distributed = local.clone(bn_axis_name="data")
    variables = local.init(jax.random.key(1), x, train=False)

    def loss(params, batch_stats, model, x):
        feats, updates = model.apply({"params": params, "batch_stats": batch_stats}, x,
                                     train=True, mutable=["batch_stats"])
        return jnp.sum(jnp.sin(feats)), (feats, updates["batch_stats"])

    grad_fn = jax.grad(loss, has_aux=True)
    params, batch_stats = variables["params"], variables["batch_stats"]
    grads, (feats, stats) = jax.jit(grad_fn, static_argnums=2)(params, batch_stats, local, x)

    def step(params, batch_stats, x):
        # Gradients w.r.t. replicated (P()) inputs come out of shard_map's autodiff already
        # summed over "data" (the transpose of the implicit broadcast is a psum).
        return grad_fn(params, batch_stats, distributed, x)

    sharded = jax.jit(jax.shard_map(step, mesh=_mesh(), in_specs=(P(), P(), P("data")),
                                    out_specs=(P(), (P("data"), P()))))
    grads_d, (feats_d, stats_d) = sharded(params, batch_stats, x)

    np.testing.assert_allclose(feats_d, feats, rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 stats_d, stats)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                 grads_d, grads)
    # Local BN on 2 examples per device really differs.
    local_feats = jax.jit(jax.shard_map(
        lambda p, s, x: local.apply({"params": p, "batch_stats": s}, x, train=True,
                                    mutable=["batch_stats"])[0],
        mesh=_mesh(), in_specs=(P(), P(), P("data")), out_specs=P("data"),
    ))(params, batch_stats, x)
    assert not np.allclose(local_feats, feats, atol=1e-3)
