"""Augmenting on 8 (fake CPU) devices inside shard_map equals the single-device call.

Every example's key comes from its GLOBAL row index (`ssljax.augment.example_keys`), so a
device that holds rows [d * n_local, (d + 1) * n_local) of the global batch makes exactly
the same random choices (boxes, flips, jitter factors and order, sigmas) as the
single-device call makes for those rows. Pixel values agree to float rounding: XLA compiles
the per-device batch of 2 and the global batch of 16 into differently vectorised code, so
reductions (the contrast mean) and fused arithmetic may differ in the last bit (~1e-7).
A wrong key would change whole images (differences of order 0.1 to 1).
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax import lax  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from ssljax import augment as A  # noqa: E402

NUM_DEVICES = 8
GLOBAL_BATCH = 16

pytestmark = pytest.mark.skipif(
    jax.device_count() < NUM_DEVICES,
    reason="needs 8 devices: jax was imported before XLA_FLAGS could fake them",
)

# Every op on, at rates that make each example take a different path.
SPEC = A.ViewSpec(out_size=12, crop_scale=(0.2, 1.0), flip_p=0.5, brightness=0.4,
                  contrast=0.4, saturation=0.4, hue=0.1, jitter_p=0.8, gray_p=0.3,
                  blur_p=0.5, solarize_p=0.3, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
LOCAL_SPEC = A.ViewSpec(out_size=6, crop_scale=(0.05, 0.4), brightness=0.4, contrast=0.4,
                        saturation=0.2, hue=0.1, jitter_p=0.8, gray_p=0.2, blur_p=0.5)


@pytest.mark.slow  # 8-device pipeline compile
def test_sharded_augmentation_equals_single_device():
    mesh = jax.make_mesh((NUM_DEVICES,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    key = jax.random.PRNGKey(1234)  # raw uint32 keys, as the train step uses
    images = np.random.default_rng(0).uniform(size=(GLOBAL_BATCH, 20, 20, 3))
    images = images.astype(np.float32)
    step = jnp.int32(17)

    def augment_local(step, local_images):
        n_local = local_images.shape[0]
        rows = lax.axis_index("data") * n_local + jnp.arange(n_local)
        return tuple(
            A.augment_view(A.example_keys(key, step, view, rows), local_images, spec)
            for view, spec in enumerate((SPEC, SPEC, LOCAL_SPEC))
        )

    sharded = jax.jit(jax.shard_map(augment_local, mesh=mesh, in_specs=(P(), P("data")),
                                    out_specs=P("data")))
    got = sharded(step, images)
    want = A.augment_views(key, 17, jnp.arange(GLOBAL_BATCH), images, (SPEC, SPEC, LOCAL_SPEC))

    assert len(got[0].sharding.device_set) == NUM_DEVICES
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=0, atol=1e-5)
    # The two views with the same spec differ (the view index enters the key).
    assert np.abs(np.asarray(got[0]) - np.asarray(got[1])).max() > 1e-2
