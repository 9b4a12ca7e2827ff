"""On 8 (fake CPU) devices, the `axis_name` losses equal the single-device global-batch loss.

For each loss: the value computed inside `jax.jit(jax.shard_map(...))` from local rows equals
the single-device value on the concatenated batch, and the gradient with respect to each
device's local inputs equals those rows of the single-device gradient.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
)

import pathlib  # noqa: E402
import re  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from ssljax import losses as L  # noqa: E402

NUM_DEVICES = 8
N_LOCAL, D = 2, 5
N_GLOBAL = NUM_DEVICES * N_LOCAL

pytestmark = pytest.mark.skipif(
    jax.device_count() < NUM_DEVICES,
    reason="needs 8 devices: jax was imported before XLA_FLAGS could fake them",
)

# Each case: a loss of two [N, D] arrays taking `axis_name`. DINO's center update is made a
# scalar by a fixed projection so that it has a gradient to compare.
_PROJ = np.linspace(-1.0, 1.0, D).astype(np.float32)
CASES = {
    "nt_xent": lambda a, b, ax: L.nt_xent(a, b, temperature=0.2, axis_name=ax),
    # 2 * N_LOCAL = 4 local anchors in blocks of 3: padding and a second block on each device.
    "nt_xent_blockwise": lambda a, b, ax: L.nt_xent(
        a, b, temperature=0.2, axis_name=ax, block_size=3
    ),
    "moco_v3": lambda a, b, ax: L.moco_v3(a, b, temperature=0.2, axis_name=ax),
    "barlow_twins": lambda a, b, ax: L.barlow_twins(a, b, lambd=0.05, axis_name=ax),
    "vicreg": lambda a, b, ax: L.vicreg(a, b, axis_name=ax),
    "dino_center_update": lambda a, b, ax: jnp.sum(
        L.dino_center_update(_PROJ[::-1], [a, b], momentum=0.7, axis_name=ax) * _PROJ
    ),
    "dcl": lambda a, b, ax: L.dcl(a, b, temperature=0.2, axis_name=ax),
    "dclw": lambda a, b, ax: L.dcl(a, b, temperature=0.2, weighted=True, axis_name=ax),
    "supcon": lambda a, b, ax: L.supcon(jnp.stack([a, b], 1), _labels(a, ax), axis_name=ax),
    # Scores of D = 5 prototypes; codes from both, a third (low-resolution) crop predicts too.
    "swav": lambda a, b, ax: L.swav([a, b], [0.5 * (a + b)], axis_name=ax),
    # The codes carry no gradient; a scalar of them that does, through the other argument.
    "sinkhorn_knopp": lambda a, b, ax: _global_sum(
        L.sinkhorn_knopp(jnp.tanh(b), axis_name=ax, iterations=4) * a, ax),
}


def _labels(a, ax):
    """Class labels of the global rows (3 classes), from each row's global index."""
    n = a.shape[0]
    rows = jnp.arange(n) if ax is None else jax.lax.axis_index(ax) * n + jnp.arange(n)
    return rows % 3


def _global_sum(x, ax):
    return jnp.sum(x) if ax is None else jax.lax.psum(jnp.sum(x), ax)


def _mesh():
    return jax.make_mesh((NUM_DEVICES,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))


def _data(seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, N_GLOBAL, D)).astype(np.float32)
    b[3] = 0.0  # a zero vector on device 1
    b[5] = a[5]  # identical views on device 2
    return a, b


@pytest.mark.parametrize("name", list(CASES))
def test_sharded_value_and_gradient_equal_single_device(name):
    loss = CASES[name]
    mesh = _mesh()

    def sharded(a, b):
        value, (g_a, g_b) = jax.value_and_grad(loss, argnums=(0, 1))(a, b, "data")
        # The value is invariant across devices (out_specs P()); gradients are per-row.
        return value, g_a, g_b

    sharded = jax.jit(
        jax.shard_map(
            sharded,
            mesh=mesh,
            in_specs=(P("data"), P("data")),
            out_specs=(P(), P("data"), P("data")),
        )
    )
    single = jax.jit(jax.value_and_grad(lambda a, b: loss(a, b, None), argnums=(0, 1)))

    a, b = _data()
    value, g_a, g_b = sharded(a, b)
    want_value, (want_a, want_b) = single(a, b)
    assert value.dtype == jnp.float32
    np.testing.assert_allclose(value, want_value, rtol=1e-5, atol=1e-6)
    scale = max(float(np.max(np.abs(want_a))), float(np.max(np.abs(want_b))))
    np.testing.assert_allclose(g_a, want_a, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(g_b, want_b, rtol=1e-5, atol=1e-6 * scale)
    assert np.any(g_a != 0)


def test_sharded_value_is_the_same_on_every_device():
    """The per-device values (out_specs P("data")) are all the global loss."""
    mesh = _mesh()
    per_device = jax.jit(
        jax.shard_map(
            lambda a, b: L.nt_xent(a, b, axis_name="data")[None],
            mesh=mesh,
            in_specs=(P("data"), P("data")),
            out_specs=P("data"),
        )
    )
    a, b = _data(1)
    values = np.asarray(per_device(a, b))
    assert values.shape == (NUM_DEVICES,)
    np.testing.assert_allclose(values, L.nt_xent(a, b), rtol=1e-5)


def test_dino_center_update_vector_equals_single_device():
    mesh = _mesh()
    center = np.arange(D, dtype=np.float32)
    sharded = jax.jit(
        jax.shard_map(
            lambda t0, t1: L.dino_center_update(center, [t0, t1], axis_name="data"),
            mesh=mesh,
            in_specs=(P("data"), P("data")),
            out_specs=P(),
        )
    )
    t0, t1 = _data(2)
    np.testing.assert_allclose(
        sharded(t0, t1), L.dino_center_update(center, [t0, t1]), rtol=1e-6, atol=1e-6
    )


@pytest.mark.slow
def test_docs_snippet_runs():
    """The shard_map train-step example in docs/losses.md runs and matches single device."""
    text = (pathlib.Path(__file__).parent.parent / "docs" / "losses.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", text, re.S)
    namespace = {}
    exec(compile(snippet, "docs/losses.md", "exec"), namespace)
    params, opt_state = namespace["params"], namespace["opt_state"]
    x_a, x_b = namespace["x_a"], namespace["x_b"]
    sharded_loss = namespace["train_step"](params, opt_state, x_a, x_b)[2]
    np.testing.assert_allclose(sharded_loss, namespace["single"], rtol=1e-5)
