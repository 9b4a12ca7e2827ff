"""`ssljax.models.batch_norm.BatchNorm` against `flax.linen.BatchNorm`: same variables,
outputs, running statistics and gradients, on one device and inside shard_map."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssljax.models.batch_norm import BatchNorm


def _pair(**kw):
    common = dict(momentum=0.9, epsilon=1e-5, param_dtype=jnp.float32, **kw)
    return BatchNorm(**common), nn.BatchNorm(**common)


def _loss(module, variables, x, train):
    y, new = module.apply(variables, x, mutable=["batch_stats"]) if train else (
        module.apply(variables, x), {})
    # a loss that weights every output differently, through a ReLU as in the networks
    w = jnp.cos(jnp.arange(y.size, dtype=jnp.float32).reshape(y.shape))
    return jnp.sum(jax.nn.relu(y.astype(jnp.float32)) * w), new


@pytest.mark.parametrize("use_running_average", [False, True])
@pytest.mark.parametrize("dtype,kw", [(jnp.float32, {}), (jnp.bfloat16, {}),
                                      (jnp.float32, {"use_scale": False, "use_bias": False}),
                                      (jnp.float32, {"scale_init": nn.initializers.zeros})])
def test_equals_flax_batch_norm(use_running_average, dtype, kw):
    ours, flax_bn = _pair(use_running_average=use_running_average, dtype=dtype, **kw)
    # an offset mean, as after a convolution of unnormalised images
    x = (jax.random.normal(jax.random.key(0), (6, 5, 5, 8)) * 2.0 + 3.0).astype(dtype)
    v = flax_bn.init(jax.random.key(1), x)
    assert jax.tree.structure(ours.init(jax.random.key(1), x)) == jax.tree.structure(v)
    v = jax.tree.map(lambda a: a + 0.1 * jnp.sin(jnp.arange(a.size) + 1.0).reshape(a.shape), v)
    train = not use_running_average
    (lo, new_o), (go_v, go_x) = jax.value_and_grad(
        lambda v, x: _loss(ours, v, x, train), (0, 1), has_aux=True)(v, x)
    (lf, new_f), (gf_v, gf_x) = jax.value_and_grad(
        lambda v, x: _loss(flax_bn, v, x, train), (0, 1), has_aux=True)(v, x)
    tol = 1e-5 if dtype == jnp.float32 else 2e-2
    np.testing.assert_allclose(lo, lf, rtol=tol)
    assert go_x.dtype == gf_x.dtype == dtype
    for a, b in zip(jax.tree.leaves((new_o, go_v, go_x)), jax.tree.leaves((new_f, gf_v, gf_x)),
                    strict=True):
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32),
                                   rtol=tol, atol=tol * 10)


def test_cross_device_statistics_inside_shard_map_equal_flax():
    """axis_name="data" on 2 devices: statistics over the whole batch, gradients of the
    replicated parameters summed over the devices, as flax's BatchNorm."""
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = Mesh(np.array(jax.devices()[:2]), ("data",))
    ours, flax_bn = _pair(use_running_average=False, dtype=jnp.float32, axis_name="data")
    x = jax.random.normal(jax.random.key(0), (8, 4, 4, 6)) * 1.5 + 0.5
    v = flax_bn.init(jax.random.key(1), x[:4])

    def run(module):
        def per_device(v, x):
            (loss, new), grads = jax.value_and_grad(
                lambda v, x: _loss(module, v, x, True), (0, 1), has_aux=True)(v, x)
            return jax.lax.psum(loss, "data"), new, grads

        return jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(P(), P("data")),
                                     out_specs=(P(), P(), (P(), P("data")))))(
            v, jax.device_put(x, NamedSharding(mesh, P("data"))))

    for a, b in zip(jax.tree.leaves(run(ours)), jax.tree.leaves(run(flax_bn)), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_a_compiled_step_holds_no_centred_copy():
    """The point of the module: a jitted gradient of two BatchNorm-ReLU layers holds less
    temporary memory than with flax's BatchNorm, which keeps x − mean of each layer (XLA
    would also merge the backward pass's x − mean with the forward's, without the
    barrier in `normalize`'s VJP)."""
    x = jax.random.normal(jax.random.key(0), (64, 16, 16, 32))

    def temp_bytes(module):
        v = module.init(jax.random.key(1), x)

        def loss(v, x):
            h = jax.nn.relu(module.apply(v, x, mutable=["batch_stats"])[0])
            h = jax.nn.relu(module.apply(v, h * 0.5 + 1.0, mutable=["batch_stats"])[0])
            return jnp.sum(h * jnp.cos(h))

        compiled = jax.jit(jax.grad(loss, (0, 1))).lower(v, x).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    ours, flax_bn = _pair(use_running_average=False, dtype=jnp.float32)
    assert temp_bytes(ours) + x.size * 4 <= temp_bytes(flax_bn)
