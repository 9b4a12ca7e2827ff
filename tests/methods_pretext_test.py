"""RotNet and the (denoising) autoencoder: their transforms, losses, decoder and steps.

The transforms and losses against float64 NumPy written from the papers (rotations as
RotNet's `rotate_img`, the context encoder's weighted L2 with its border band); the
methods end to end on the harness's tiny encoder: the loss starts where it must and falls.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from ssljax import augment, losses, methods, models, parallel, pretrain_eval
from ssljax.errors import ConfigError
from tests import harness

# --------------------------------------------------------------------------- transforms


def test_rotations_match_rotnet_rotate_img():
    x = np.random.default_rng(0).random((3, 5, 5, 2)).astype(np.float32)
    rotated, labels = augment.rotations(jnp.asarray(x))
    # gidariss/FeatureLearningRotNet dataloader.py rotate_img, per image (H, W, C).
    ref = {0: lambda im: im, 1: lambda im: np.flipud(np.transpose(im, (1, 0, 2))),
           2: lambda im: np.fliplr(np.flipud(im)), 3: lambda im: np.transpose(np.flipud(im),
                                                                           (1, 0, 2))}
    want = np.concatenate([np.stack([ref[k](im) for im in x]) for k in range(4)])
    np.testing.assert_array_equal(np.asarray(rotated), want)
    np.testing.assert_array_equal(np.asarray(labels), np.repeat(np.arange(4), 3))


def test_rotations_need_square_images():
    with pytest.raises(ValueError, match="square"):
        augment.rotations(jnp.zeros((2, 4, 6, 1)))


def test_corrupt_noises():
    x = jnp.full((64, 8, 8, 3), 0.5)
    keys = augment.example_keys(jax.random.PRNGKey(0), 0, 0, jnp.arange(64))
    np.testing.assert_array_equal(augment.corrupt(keys, x, "none", 0.3), x)
    g = np.asarray(augment.corrupt(keys, x, "gaussian", 0.2)) - 0.5
    assert abs(g.std() - 0.2) < 0.01 and abs(g.mean()) < 0.01
    m = np.asarray(augment.corrupt(keys, x, "masking", 0.25))
    dropped = m[..., 0] == 0
    assert abs(dropped.mean() - 0.25) < 0.02
    np.testing.assert_array_equal(m == 0, np.repeat(dropped[..., None], 3, -1))  # whole pixels
    # Keyed per example: row i's corruption depends on its key only.
    m2 = np.asarray(augment.corrupt(keys[10:20], x[10:20], "masking", 0.25))
    np.testing.assert_array_equal(m2, m[10:20])
    with pytest.raises(ValueError, match="unknown"):
        augment.corrupt(keys, x, "salt", 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        augment.corrupt(keys, x, "masking", 1.0)


# --------------------------------------------------------------------------- losses


def test_pretext_ce_matches_numpy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(12, 4)) * 3
    labels = rng.integers(0, 4, 12)
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    want = -logp[np.arange(12), labels].mean()
    got = losses.pretext_ce(jnp.asarray(logits, jnp.float32), jnp.asarray(labels))
    np.testing.assert_allclose(float(got), want, rtol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        losses.pretext_ce(jnp.zeros((4, 3)), jnp.zeros((5,), jnp.int32))


def _np_masked_reconstruction(pred, target, mask, border_weight, width):
    """Float64 loops: a mask pixel is in the band if a pixel outside the mask (outside the
    image counts as outside) lies within `width` (Chebyshev distance)."""
    n, h, w, c = pred.shape
    weights = np.zeros((n, h, w))
    padded = np.pad(mask, ((0, 0), (width, width), (width, width)))
    for i in range(n):
        for y in range(h):
            for x in range(w):
                if not mask[i, y, x]:
                    continue
                win = padded[i, y:y + 2 * width + 1, x:x + 2 * width + 1]
                weights[i, y, x] = border_weight if width and (win == 0).any() else 1.0
    err = ((pred - target) ** 2).sum(-1)
    return (weights * err).sum() / (c * weights.sum())


def test_masked_reconstruction_matches_numpy_with_border_band():
    rng = np.random.default_rng(2)
    pred, target = rng.normal(size=(2, 12, 12, 3)), rng.normal(size=(2, 12, 12, 3))
    mask = np.zeros((2, 12, 12))
    mask[0, 3:9, 3:9] = 1  # a central region, as the context encoder's
    mask[1, 0:6, 4:12] = 1  # a block touching the image's edge: a band along the edge too
    for bw, width in ((10.0, 2), (10.0, 0), (1.0, 3), (4.0, 1)):
        got = losses.masked_reconstruction(jnp.asarray(pred, jnp.float32),
                                           jnp.asarray(target, jnp.float32),
                                           jnp.asarray(mask), border_weight=bw,
                                           border_width=width)
        want = _np_masked_reconstruction(pred, target, mask, bw, width)
        np.testing.assert_allclose(float(got), want, rtol=1e-5)
    plain = losses.masked_reconstruction(jnp.asarray(pred), jnp.asarray(target))
    np.testing.assert_allclose(float(plain), ((pred - target) ** 2).mean(), rtol=1e-5)
    empty = losses.masked_reconstruction(jnp.asarray(pred), jnp.asarray(target),
                                         jnp.zeros((2, 12, 12)))
    assert float(empty) == 0.0
    with pytest.raises(ValueError, match="mask must have shape"):
        losses.masked_reconstruction(jnp.asarray(pred), jnp.asarray(target), jnp.ones((2, 6, 6)))


# --------------------------------------------------------------------------- decoder


def test_conv_decoder_shapes_and_size_check():
    dec = models.ConvDecoder(image_size=32, out_channels=3, channels=(16, 8, 8, 4))
    v = dec.init(jax.random.PRNGKey(0), jnp.zeros((2, 10)), train=False)
    assert dec.apply(v, jnp.ones((2, 10)), train=False).shape == (2, 32, 32, 3)
    assert v["params"]["project"]["kernel"].shape == (10, 4 * 4 * 16)
    with pytest.raises(ValueError, match="divisible by 8"):
        models.ConvDecoder(image_size=28, out_channels=1, channels=(8, 8, 8, 8)).init(
            jax.random.PRNGKey(0), jnp.zeros((1, 4)), train=False)


# --------------------------------------------------------------------------- methods


def _steps(config, n, seed=0):
    run = harness.build(config, total_steps=1000)
    _, losses_, metrics = harness.run_steps(run, harness.batch(seed), n)
    return run, losses_, metrics


@pytest.mark.slow
def test_rotnet_learns_the_rotations():
    c = harness.tiny_config("rotnet", optimizer__name="adamw", optimizer__base_lr=3e-3,
                            optimizer__lr_scaling="none")
    c.augment.crop_scale = (0.9, 1.0)
    run, ls, metrics = _steps(c, 25)
    assert abs(ls[0] - np.log(4)) < 0.3, ls[0]  # 4 balanced classes, near-uniform start
    assert np.mean(ls[-3:]) < ls[0] - 0.3, ls
    assert float(metrics["rotation_accuracy"]) > 0.4
    assert set(run.state.params) == {"encoder", "classifier"}
    kernel = run.state.params["classifier"]["dense1"]["kernel"]
    assert kernel.shape[-1] == 4  # head.out_dim is not read: four rotations


@pytest.mark.parametrize("noise, amount", [("none", 0.0), ("masking", 0.3)])
@pytest.mark.slow
def test_autoencoder_reconstruction_falls(noise, amount):
    c = harness.tiny_config("autoencoder", optimizer__name="adamw", optimizer__base_lr=3e-3,
                            optimizer__lr_scaling="none", autoencoder__noise=noise,
                            autoencoder__noise_amount=amount, decoder__channels=(16, 8, 8))
    run, ls, metrics = _steps(c, 20)
    assert np.all(np.isfinite(ls)) and float(metrics["nonfinite"]) == 0.0
    assert np.mean(ls[-3:]) < 0.6 * ls[0], ls
    assert set(run.state.params) == {"encoder", "decoder"}


@pytest.mark.parametrize("overrides, match", [
    ({"autoencoder__noise": "salt"}, "autoencoder.noise='salt' is unknown"),
    ({"autoencoder__noise": "masking", "autoencoder__noise_amount": 1.0}, r"\[0, 1\)"),
    ({"autoencoder__noise": "gaussian"}, "must be > 0"),
])
def test_autoencoder_bad_noise_is_one_line(overrides, match):
    with pytest.raises(ConfigError, match=match):
        methods.get_method(harness.tiny_config("autoencoder", **overrides), num_classes=10)


def test_autoencoder_image_size_must_suit_the_decoder():
    c = harness.tiny_config("autoencoder", decoder__channels=(8, 8, 8, 8, 8, 8))
    method = methods.get_method(c, num_classes=10)
    with pytest.raises(ConfigError, match="divisible by 32, got 16"):
        method.views(16)


# --------------------------------------------------------------------------- context encoder


def test_region_masks_center_matches_the_reference_slices():
    # train.lua at fineSize 128, overlapPred 4: region rows/cols 33..96 (1-based), the hole
    # 37..92; here 0-based [32, 96) and [36, 92).
    holes, regions = augment.region_masks(None, 2, 128, 56, 4, "center")
    want_region, want_hole = np.zeros((128, 128)), np.zeros((128, 128))
    want_region[32:96, 32:96] = 1
    want_hole[36:92, 36:92] = 1
    np.testing.assert_array_equal(np.asarray(regions[1]), want_region)
    np.testing.assert_array_equal(np.asarray(holes[0]), want_hole)


def test_region_masks_random_holes_sit_inside_their_regions():
    keys = augment.example_keys(jax.random.PRNGKey(3), 0, 0, jnp.arange(64))
    holes, regions = map(np.asarray, augment.region_masks(keys, 64, 28, 10, 2, "random"))
    assert np.all(holes.sum((1, 2)) == 100) and np.all(regions.sum((1, 2)) == 196)
    assert np.all(holes <= regions)
    for h, r in zip(holes, regions, strict=True):
        ys, xs = np.nonzero(r)
        hy, hx = np.nonzero(h)
        assert hy.min() == ys.min() + 2 and hx.max() == xs.max() - 2  # the 2-px band
    corners = {(int(np.nonzero(r)[0].min()), int(np.nonzero(r)[1].min())) for r in regions}
    assert len(corners) > 20  # positions vary per example
    filled = np.asarray(augment.fill_holes(jnp.ones((64, 28, 28, 1)), jnp.asarray(holes),
                                           jnp.asarray([0.25])))
    np.testing.assert_array_equal(filled[..., 0], np.where(holes > 0, 0.25, 1.0))
    with pytest.raises(ValueError, match="does not fit"):
        augment.region_masks(None, 1, 16, 14, 2)
    with pytest.raises(ValueError, match="unknown"):
        augment.region_masks(None, 1, 16, 4, 2, "corner")


@pytest.mark.slow
def test_context_encoder_learns_to_inpaint():
    c = harness.tiny_config("context_encoder", optimizer__name="adamw",
                            optimizer__base_lr=3e-3, optimizer__lr_scaling="none",
                            decoder__channels=(16, 8, 8), context_encoder__overlap_px=1)
    run, ls, metrics = _steps(c, 20)
    assert np.all(np.isfinite(ls)) and float(metrics["nonfinite"]) == 0.0
    assert np.mean(ls[-3:]) < 0.6 * ls[0], ls
    assert run.method.hole_side == 6 and run.method.region_side == 8  # 16 px views


@pytest.mark.parametrize("overrides, match", [
    ({"context_encoder__region": "corner"}, "region='corner' is unknown"),
    ({"context_encoder__region_fraction": 1.5}, r"must be in \(0, 1\]"),
])
def test_context_encoder_bad_config_is_one_line(overrides, match):
    with pytest.raises(ConfigError, match=match):
        methods.get_method(harness.tiny_config("context_encoder", **overrides), num_classes=10)


def _adversarial_config(**overrides):
    settings = dict(optimizer__name="sgd", optimizer__base_lr=0.05,
                    optimizer__lr_scaling="none", decoder__channels=(16, 8, 8),
                    context_encoder__overlap_px=1, context_encoder__adversarial_weight=0.3,
                    context_encoder__disc_channels=8, context_encoder__disc_lr=1e-3)
    return harness.tiny_config("context_encoder", **{**settings, **overrides})


@pytest.mark.slow
def test_context_encoder_adversarial_gradients_reach_their_own_networks():
    """L_G + L_D in one step: the encoder and decoder get ∇[(1−λ)·L_rec + λ·L_adv] with D
    held, and D gets ∇L_D with the reconstruction held; the logged terms are that split."""
    lam = 0.3
    run = harness.build(_adversarial_config(), total_steps=1000)
    method, state = run.method, run.state
    assert set(state.params) == {"encoder", "decoder", "discriminator"}
    x = jnp.asarray(harness.batch(0)["image"], jnp.float32) / 255.0
    rng = jax.random.PRNGKey(3)
    mesh = parallel.make_mesh(1)

    def total(p, v):
        return method.loss(p, state, (v,), rng)[0]

    def term(name):
        return lambda p, v: method.loss(p, state, (v,), rng)[1].metrics[name]

    def generator(p, v):
        return (1 - lam) * term("reconstruction")(p, v) + lam * term("adversarial")(p, v)

    def grad_of(f):
        g = jax.shard_map(jax.grad(f), mesh=mesh, in_specs=(P(), P("data")), out_specs=P())
        return jax.device_get(jax.jit(g)(state.params, x))

    g, g_gen, g_disc = grad_of(total), grad_of(generator), grad_of(term("discriminator"))
    zero = functools.partial(jax.tree.map, lambda a: np.testing.assert_array_equal(a, 0))
    zero(g_gen["discriminator"])  # D is held inside the generator's terms
    zero(g_disc["encoder"]), zero(g_disc["decoder"])  # the fake region is held inside L_D
    for part, want in (("encoder", g_gen), ("decoder", g_gen), ("discriminator", g_disc)):
        harness.assert_trees_close(g[part], want[part], part, rtol=1e-5, atol=1e-7)
    assert max(float(np.abs(a).max()) for a in jax.tree.leaves(g_disc["discriminator"])) > 0


@pytest.mark.slow
def test_context_encoder_discriminator_has_an_adam_of_its_own():
    """D's first step is a fresh Adam's at disc_lr (|Δ| = lr·|g|/(|g| + ε) ≈ lr per entry);
    the encoder moves by the config's SGD."""
    run = harness.build(_adversarial_config(), total_steps=1000)
    before = jax.device_get(run.state.params)
    states, ls, metrics = harness.run_steps(run, harness.batch(0), 1)
    after = jax.device_get(states[-1].params)
    for a, b in zip(jax.tree.leaves(before["discriminator"]),
                    jax.tree.leaves(after["discriminator"]), strict=True):
        np.testing.assert_allclose(np.abs(b - a), 1e-3, rtol=1e-3)
    moved = np.concatenate([np.abs(b - a).ravel() for a, b in zip(
        jax.tree.leaves(before["encoder"]), jax.tree.leaves(after["encoder"]), strict=True)])
    assert moved.max() > 0 and moved.std() > 0.1 * moved.mean()  # SGD: not sign-like
    m = jax.device_get(metrics)
    assert 0.5 < float(m["discriminator"]) < 3 and np.isfinite(ls).all()


@pytest.mark.slow
def test_context_encoder_adversarial_run_learns_and_d_separates():
    run = harness.build(_adversarial_config(context_encoder__adversarial_weight=0.001),
                        total_steps=1000)
    _, ls, metrics = harness.run_steps(run, harness.batch(0), 25)
    m = jax.device_get(metrics)
    assert np.isfinite(ls).all() and float(m["nonfinite"]) == 0.0
    assert float(m["discriminator"]) < 2 * np.log(2)  # D beats chance on real vs. inpainted
    assert float(m["reconstruction"]) < 0.6 * float(ls[0])


@pytest.mark.parametrize("overrides, match", [
    ({"context_encoder__adversarial_weight": 1.0}, r"must be in \[0, 1\)"),
    ({"context_encoder__adversarial_weight": 0.001, "context_encoder__disc_lr": 0.0},
     "disc_lr must be > 0"),
])
def test_context_encoder_bad_adversarial_config_is_one_line(overrides, match):
    with pytest.raises(ConfigError, match=match):
        methods.get_method(harness.tiny_config("context_encoder", **overrides), num_classes=10)


def test_context_encoder_hole_must_fit_inside_the_overlap():
    c = harness.tiny_config("context_encoder", context_encoder__overlap_px=4)
    with pytest.raises(ConfigError, match="leaves no hole"):
        methods.get_method(c, num_classes=10).views(16)


# --------------------------------------------------------------------------- jigsaw, context


def test_tile_grid_tiles_lie_in_their_cells():
    rng = np.random.default_rng(4)
    x = rng.random((5, 28, 28, 2)).astype(np.float32)
    keys = augment.example_keys(jax.random.PRNGKey(0), 0, 0, jnp.arange(5))
    tiles = np.asarray(augment.tile_grid(keys, jnp.asarray(x), 3, 7))
    assert tiles.shape == (5, 9, 7, 7, 2)
    offsets = set()
    for i in range(5):
        for cell in range(9):
            r, c = divmod(cell, 3)
            y0, x0 = r * 9, c * 9  # central 27 px of 28: start (28 - 27) // 2 = 0
            found = [(dy, dx) for dy in range(3) for dx in range(3)
                     if np.array_equal(x[i, y0 + dy:y0 + dy + 7, x0 + dx:x0 + dx + 7],
                                       tiles[i, cell])]
            assert len(found) == 1, (i, cell)
            offsets.add(found[0])
    assert len(offsets) > 4  # the jitter varies
    with pytest.raises(ValueError, match="do not fit"):
        augment.tile_grid(keys, jnp.asarray(x), 3, 10)


def test_standardize_tiles_and_drop_colors():
    t = jnp.asarray(np.random.default_rng(5).normal(3, 2, (2, 4, 6, 6, 3)), jnp.float32)
    z = np.asarray(augment.standardize_tiles(t))
    np.testing.assert_allclose(z.mean(axis=(2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(2, 3)), 1, atol=1e-3)
    keys = augment.example_keys(jax.random.PRNGKey(1), 0, 0, jnp.arange(2))
    d = np.asarray(augment.drop_colors(keys, t))
    tt = np.asarray(t)
    for i in range(2):
        for k in range(4):
            same = [np.array_equal(d[i, k, ..., ch], tt[i, k, ..., ch]) for ch in range(3)]
            assert sum(same) == 1  # one channel kept, the other two replaced
            noise = d[i, k][..., [ch for ch in range(3) if not same[ch]]]
            assert noise.std() < tt[i, k].std() / 20
    gray = jnp.ones((2, 4, 6, 6, 1))
    np.testing.assert_array_equal(augment.drop_colors(keys, gray), gray)


def test_permutation_set_is_distinct_and_well_separated():
    perms = augment.permutation_set(64)
    assert perms.shape == (64, 9) and len({tuple(p) for p in perms}) == 64
    assert all(sorted(p) == list(range(9)) for p in perms)
    dist = (perms[:, None] != perms[None]).sum(-1)
    np.fill_diagonal(dist, 9)
    assert dist.min() >= 6  # random 64 permutations of 9 would almost surely have pairs at 2-4
    np.testing.assert_array_equal(perms, augment.permutation_set(64))  # deterministic
    with pytest.raises(ValueError, match="cannot choose"):
        augment.permutation_set(7, size=3)


@pytest.mark.slow
def test_jigsaw_solves_puzzles():
    c = harness.tiny_config("jigsaw", optimizer__name="adamw", optimizer__base_lr=3e-3,
                            optimizer__lr_scaling="none", jigsaw__num_permutations=8,
                            jigsaw__tile_px=4)
    run, ls, metrics = _steps(c, 25)
    assert abs(ls[0] - np.log(8)) < 0.5, ls[0]
    assert np.mean(ls[-3:]) < ls[0] - 0.3, ls
    assert "puzzle_accuracy" in metrics
    kernel = run.state.params["classifier"]["dense1"]["kernel"]
    assert kernel.shape == (32, 8)  # hidden 32 -> 8 permutations


@pytest.mark.slow
def test_context_prediction_learns_positions():
    c = harness.tiny_config("context_prediction", optimizer__name="adamw",
                            optimizer__base_lr=3e-3, optimizer__lr_scaling="none",
                            context_prediction__tile_px=4)
    # Ramps whose direction varies per image: a patch pair's brightness difference tells
    # the neighbour's position once the network compares the two patches.
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16] / 15.0
    angles = rng.uniform(0, 0.5 * np.pi, harness.BATCH)  # increasing right and down
    ramps = np.cos(angles)[:, None, None] * xx + np.sin(angles)[:, None, None] * yy
    images = (255 * ramps / ramps.max((1, 2), keepdims=True))[..., None].astype(np.uint8)
    run = harness.build(c, total_steps=1000)
    _, ls, metrics = harness.run_steps(run, {"image": images, "label": np.zeros(
        harness.BATCH, np.int32)}, 30)
    assert abs(ls[0] - np.log(8)) < 0.5, ls[0]
    assert np.mean(ls[-5:]) < np.mean(ls[:5]) - 0.3, ls
    assert "position_accuracy" in metrics
    assert run.state.params["classifier"]["dense0"]["kernel"].shape[0] == 2 * 16  # 2 patches


@pytest.mark.parametrize("method, key", [("jigsaw", "jigsaw__tile_px"),
                                         ("context_prediction", "context_prediction__tile_px")])
def test_tiles_that_do_not_fit_are_one_line(method, key):
    c = harness.tiny_config(method, **{key: 6})
    with pytest.raises(ConfigError, match="do not fit the 5 px cells"):
        methods.get_method(c, num_classes=10).views(16)


# --------------------------------------------------------------------------- CPC


def test_patch_grid_matches_slices():
    x = np.random.default_rng(6).random((2, 28, 28, 1)).astype(np.float32)
    grid = np.asarray(augment.patch_grid(jnp.asarray(x), 8, 4))
    assert grid.shape == (2, 6, 6, 8, 8, 1)
    for i, j in ((0, 0), (2, 5), (5, 3)):
        np.testing.assert_array_equal(grid[:, i, j], x[:, 4 * i:4 * i + 8, 4 * j:4 * j + 8])
    with pytest.raises(ValueError, match="does not fit"):
        augment.patch_grid(jnp.asarray(x), 8, 6)


def test_cpc_info_nce_matches_numpy():
    rng = np.random.default_rng(7)
    p, z = rng.normal(size=(10, 6)), rng.normal(size=(10, 6))
    logits = p @ z.T
    logits -= logits.max(1, keepdims=True)
    want = -(np.diag(logits) - np.log(np.exp(logits).sum(1))).mean()
    got = losses.cpc_info_nce(jnp.asarray(p, jnp.float32), jnp.asarray(z, jnp.float32))
    np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_cpc_info_nce_on_8_devices_equals_the_global_batch():
    from jax.sharding import PartitionSpec as P  # noqa: PLC0415

    from ssljax import parallel  # noqa: PLC0415

    rng = np.random.default_rng(8)
    p = rng.normal(size=(32, 5)).astype(np.float32)
    z = rng.normal(size=(32, 5)).astype(np.float32)
    mesh = parallel.make_mesh(8)
    f = jax.jit(jax.shard_map(lambda a, b: losses.cpc_info_nce(a, b, axis_name="data"),
                              mesh=mesh, in_specs=(P("data"), P("data")), out_specs=P()))
    np.testing.assert_allclose(float(f(p, z)), float(losses.cpc_info_nce(p, z)), rtol=1e-5)


def test_context_network_sees_only_rows_at_or_above():
    from ssljax.methods.cpc import ContextNetwork  # noqa: PLC0415

    net = ContextNetwork(hidden=8, blocks=2)
    z = jnp.asarray(np.random.default_rng(9).normal(size=(1, 6, 6, 4)), jnp.float32)
    v = net.init(jax.random.PRNGKey(0), z)
    base_out = np.asarray(net.apply(v, z))
    changed = np.asarray(net.apply(v, z.at[:, 4:].set(5.0)))  # rows 4 and 5 only
    np.testing.assert_array_equal(changed[:, :4], base_out[:, :4])
    assert not np.allclose(changed[:, 4], base_out[:, 4])


def test_cpc_orient_turns_the_grid_so_the_direction_points_down():
    from ssljax.methods.cpc import orient  # noqa: PLC0415

    z = np.random.default_rng(10).normal(size=(2, 4, 4, 3)).astype(np.float32)
    want = {"down": z, "up": z[:, ::-1], "right": z.transpose(0, 2, 1, 3),
            "left": z.transpose(0, 2, 1, 3)[:, ::-1]}
    for direction, w in want.items():
        np.testing.assert_array_equal(np.asarray(orient(jnp.asarray(z), direction)), w)


def test_cpc_predictions_in_each_direction_see_only_the_patches_behind_them():
    """A patch at (row 3, column 1) of a 5×5 grid may change the predictions made from
    contexts at or past it in each direction, and none made from before it."""
    from ssljax.methods.cpc import DIRECTIONS, CPCModel  # noqa: PLC0415

    class Flat(nn.Module):
        @nn.compact
        def __call__(self, x, train=True):
            return nn.Dense(6)(x.reshape(x.shape[0], -1))

    model = CPCModel(encoder=Flat(), steps=1, hidden=8, directions=DIRECTIONS)
    x = jnp.asarray(np.random.default_rng(11).normal(size=(2, 5, 5, 3, 3, 1)), jnp.float32)
    v = model.init(jax.random.PRNGKey(0), x)
    base_out = np.asarray(model.apply(v, x)["preds"][:, 0])
    changed = np.asarray(model.apply(v, x.at[:, 3, 1].set(4.0))["preds"][:, 0])
    # the perturbed patch's row in each direction's orientation (down, up, right, left)
    for i, first in enumerate((3, 5 - 1 - 3, 1, 5 - 1 - 1)):
        np.testing.assert_array_equal(changed[i][:, :first], base_out[i][:, :first])
        assert not np.allclose(changed[i][:, first], base_out[i][:, first]), DIRECTIONS[i]


def test_cpc_unknown_direction_is_one_line():
    c = harness.tiny_config("cpc", cpc__directions=("down", "diagonal"))
    with pytest.raises(ConfigError, match="cpc.directions must be distinct names from"):
        methods.get_method(c, num_classes=10)


@pytest.mark.slow
def test_cpc_learns_with_a_layer_norm_encoder():
    c = harness.tiny_config("cpc", optimizer__name="adamw", optimizer__base_lr=3e-3,
                            optimizer__lr_scaling="none", cpc__patch_px=8, cpc__stride_px=4,
                            cpc__steps=1, cpc__context_hidden=16, encoder__norm="layer",
                            cpc__directions=("down", "up", "right", "left"))  # CPC v2's
    run, ls, metrics = _steps(c, 20)
    assert abs(ls[0] - np.log(harness.BATCH * 2 * 3)) < 1.0, ls[0]  # 6 targets per image
    assert np.mean(ls[-3:]) < ls[0] - 0.3, ls
    assert "ln1" in run.state.params["encoder"] and not run.state.batch_stats.get("encoder")
    # Evaluated (and exported) on its patch grid, as CPC v2; cpc.eval_patches=False: whole.
    evaluated = pretrain_eval.eval_module(c, run.method)
    assert (evaluated.patch_px, evaluated.patch_stride) == (8, 4)
    c.cpc.eval_patches = False
    assert pretrain_eval.eval_module(c, methods.get_method(c, 10)).patch_px == 0


@pytest.mark.parametrize("overrides, match", [
    ({"cpc__patch_px": 8, "cpc__stride_px": 5}, "does not fit 16 px"),
    ({"cpc__patch_px": 8, "cpc__stride_px": 4, "cpc__steps": 3}, "needs a grid of more rows"),
])
def test_cpc_grid_that_does_not_fit_is_one_line(overrides, match):
    c = harness.tiny_config("cpc", **overrides)
    with pytest.raises(ConfigError, match=match):
        methods.get_method(c, num_classes=10).views(16)


# --------------------------------------------------------------------------- colorization


def test_lab_matches_scikit_image_on_a_real_photograph():
    skimage = pytest.importorskip("skimage")
    from skimage import color  # noqa: PLC0415

    img = skimage.data.astronaut()[::4, ::4] / 255.0
    want = color.rgb2lab(img)
    got = np.asarray(augment.rgb_to_lab(jnp.asarray(img)))
    np.testing.assert_allclose(got, want, atol=2e-3)
    back = np.asarray(augment.lab_to_rgb(jnp.asarray(want)))
    np.testing.assert_allclose(back, color.lab2rgb(want), atol=1e-4)


def test_ab_bins_are_the_in_gamut_grid_cells():
    bins = augment.ab_bins()
    assert bins.shape == (262, 2) and np.all(bins % 10 == 0)
    assert (0, 0) in {tuple(b) for b in bins.tolist()}
    # sRGB's saturated colours have their bins; far corners of the grid do not.
    red = np.asarray(augment.rgb_to_lab(jnp.asarray([1.0, 0.0, 0.0])))[1:]
    nearest = bins[np.argmin(((bins - red) ** 2).sum(1))]
    assert np.abs(nearest - red).max() <= 5.0
    assert (-110, -110) not in {tuple(b) for b in bins.tolist()}


def test_soft_encode_rebalance_and_annealed_mean_match_numpy():
    bins = augment.ab_bins().astype(np.float64)
    ab = np.array([[3.0, -6.0], [54.0, 42.0]])  # no ties among the 5 nearest bins
    got = np.asarray(augment.soft_encode(jnp.asarray(ab), jnp.asarray(bins)))
    for i in range(2):
        d2 = ((bins - ab[i]) ** 2).sum(1)
        idx = np.argsort(d2)[:5]
        want = np.zeros(len(bins))
        want[idx] = np.exp(-d2[idx] / 50.0)
        np.testing.assert_allclose(got[i], want / want.sum(), atol=1e-6)
    prior = np.random.default_rng(10).random(len(bins)) ** 4
    d2 = ((bins[:, None] - bins[None]) ** 2).sum(-1)
    smooth = np.exp(-d2 / 50.0) @ (prior / prior.sum())
    smooth /= smooth.sum()
    w = 1.0 / (0.5 * smooth + 0.5 / len(bins))
    w /= (smooth * w).sum()
    got_w = np.asarray(augment.rebalance_weights(jnp.asarray(prior), jnp.asarray(bins)))
    np.testing.assert_allclose(got_w, w, rtol=1e-4)
    assert got_w[np.argmin(smooth)] > got_w[np.argmax(smooth)]  # rare colours weigh more
    logits = np.random.default_rng(11).normal(size=(3, len(bins)))
    mean = np.asarray(augment.annealed_mean(jnp.asarray(logits), jnp.asarray(bins),
                                            temperature=1.0))
    p = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(mean, (p / p.sum(1, keepdims=True)) @ bins, rtol=1e-4, atol=1e-3)
    sharp = np.asarray(augment.annealed_mean(jnp.asarray(logits), jnp.asarray(bins),
                                             temperature=1e-3))
    np.testing.assert_allclose(sharp, bins[logits.argmax(1)], atol=1e-3)


def test_colorization_ce_matches_numpy():
    rng = np.random.default_rng(12)
    logits = rng.normal(size=(2, 3, 3, 6))
    target = rng.random((2, 3, 3, 6))
    target /= target.sum(-1, keepdims=True)
    w = rng.random(6) + 0.5
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    want = np.mean(-(target * logp).sum(-1) * w[target.argmax(-1)])
    got = losses.colorization_ce(jnp.asarray(logits, jnp.float32),
                                 jnp.asarray(target, jnp.float32),
                                 rebalance_weights=jnp.asarray(w, jnp.float32))
    np.testing.assert_allclose(float(got), want, rtol=1e-5)


def _photo_batch(n=32, size=16, seed=0):
    """Random crops of scikit-image's real colour photographs, as uint8 [n, size, size, 3]."""
    skimage = pytest.importorskip("skimage")
    from PIL import Image  # noqa: PLC0415

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(),
              skimage.data.rocket(), skimage.data.hubble_deep_field()]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = photos[i % len(photos)]
        side = int(rng.integers(64, min(img.shape[:2])))
        y, x = (int(rng.integers(0, img.shape[d] - side + 1)) for d in (0, 1))
        crop = Image.fromarray(img[y:y + side, x:x + side, :3])
        out.append(np.asarray(crop.resize((size, size), Image.BILINEAR)))
    return {"image": np.stack(out).astype(np.uint8), "label": np.zeros(n, np.int32)}


@pytest.mark.slow
def test_colorization_trains_on_real_photographs_and_decodes_plausible_colours():
    c = harness.tiny_config("colorization", optimizer__name="adamw", optimizer__base_lr=3e-3,
                            optimizer__lr_scaling="none", decoder__channels=(16, 16))
    c.augment.preset = "crop_flip"
    batch = _photo_batch()
    run = harness.build(c, total_steps=1000, channels=3)
    states, ls, metrics = harness.run_steps(run, batch, 25)
    assert np.all(np.isfinite(ls)) and np.mean(ls[-3:]) < 0.85 * ls[0], ls
    counts = np.asarray(states[-1].extra["ab_counts"])
    assert counts.sum() == 25 * 32 * 4 * 4  # every target pixel of every step counted
    rgb = jnp.asarray(batch["image"], jnp.float32) / 255.0
    out = np.asarray(run.method.colorize(states[-1].params, states[-1].batch_stats, rgb))
    assert out.shape == rgb.shape and out.min() >= 0.0 and out.max() <= 1.0
    ab_pred = np.asarray(augment.rgb_to_lab(jnp.asarray(out)))[..., 1:]
    ab_true = np.asarray(augment.rgb_to_lab(rgb))[..., 1:]
    assert np.abs(ab_pred).max() <= 110.0
    # Decoded colours lie near the photographs' own (mean ab within 15 units, some chroma).
    assert np.abs(ab_pred.mean((0, 1, 2)) - ab_true.mean((0, 1, 2))).max() < 15.0
    assert np.sqrt((ab_pred ** 2).sum(-1)).mean() > 2.0


def test_colorization_refuses_grayscale_data_in_one_line():
    c = harness.tiny_config("colorization", decoder__channels=(16, 16))
    with pytest.raises(ConfigError, match="colorization needs RGB images; these have 1"):
        harness.build(c, total_steps=10, channels=1)


@pytest.mark.slow
def test_colorization_on_8_devices_equals_1_device():
    c = harness.tiny_config("colorization", bn="global", decoder__channels=(16, 16))
    c.augment.preset = "crop_flip"
    batch = harness.random_batch(channels=3)
    results = []
    for devices in (1, 8):
        run = harness.build(c, devices, total_steps=20, channels=3)
        states, ls, _ = harness.run_steps(run, batch, 2)
        results.append((states[-1], ls))
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=2e-5)
    harness.assert_trees_close(results[0][0].params, results[1][0].params, "params")
    np.testing.assert_array_equal(results[0][0].extra["ab_counts"],
                                  results[1][0].extra["ab_counts"])


# --------------------------------------------------------------------------- feature_layer


@pytest.mark.parametrize("make, layer, dim", [
    (lambda **kw: models.SmallCNN(channels=(8, 16, 32), strides=(2, 2, 2), **kw), 2, 16),
    pytest.param(lambda **kw: models.ResNet18(stem="cifar", num_filters=8, **kw), 2, 16,
                 marks=pytest.mark.slow),
])
def test_feature_layer_pools_an_intermediate_stage(make, layer, dim):
    x = jnp.asarray(np.random.default_rng(13).random((2, 16, 16, 3)), jnp.float32)
    full = make()
    v = full.init(jax.random.PRNGKey(0), x, train=False)
    part = make(feature_layer=layer)
    h = part.apply(v, x, train=False)  # the full network's variables: later stages unused
    assert h.shape == (2, dim) and part.feature_dim == dim
    # Equal to pooling the stage's output of the full network (captured intermediates).
    _, inter = full.apply(v, x, train=False, capture_intermediates=True)
    name = "conv2" if isinstance(full, models.SmallCNN) else f"stage{layer}_block2"
    assert name in inter["intermediates"]
    with pytest.raises(ValueError, match="feature_layer=5"):
        make(feature_layer=5).apply(v, x, train=False)


def test_eval_feature_layer_in_pretraining_and_in_the_eval_programs(tmp_path):
    from ssljax import encoder_io, pretrain_eval  # noqa: PLC0415
    from ssljax.config_base import linear_eval_base  # noqa: PLC0415

    c = harness.tiny_config("rotnet", eval__feature_layer=1)
    method = methods.get_method(c, num_classes=10)
    assert pretrain_eval.eval_module(c, method).feature_layer == 1
    c.eval.feature_layer = 3
    with pytest.raises(ConfigError, match="stages 1..2"):
        pretrain_eval.eval_encoder(c, method)
    from ssljax import config_schema  # noqa: PLC0415
    from ssljax.config_base import pretrain_base  # noqa: PLC0415

    raw = pretrain_base("rotnet")
    raw.encoder.name, raw.eval.feature_layer = "vit_test", 1
    vit = config_schema.resolve(raw, "pretrain", warn=False)[0]
    with pytest.raises(ConfigError, match="applies to ResNet and SmallCNN"):
        pretrain_eval.eval_encoder(vit, methods.get_method(vit, num_classes=10))
    # linear_eval / finetune: encoder.feature_layer is a runtime key of the saved encoder.
    x = jnp.zeros((1, 16, 16, 1))
    enc = models.SmallCNN(channels=(8, 16), strides=(2, 2))
    v = enc.init(jax.random.PRNGKey(0), x, train=False)
    encoder_io.export_encoder(tmp_path, v["params"], v["batch_stats"], {
        "encoder": {"name": "small_cnn", "channels": [8, 16], "strides": [2, 2]},
        "input_shape": [16, 16, 1]})
    ev = linear_eval_base()
    ev.init_from = str(tmp_path)
    ev.encoder.feature_layer = 1
    src = encoder_io.resolve_encoder(ev, allow_scratch=False)
    assert src.encoder_cfg["feature_layer"] == 1
    ev.encoder.feature_layer = 0
    assert "feature_layer" not in encoder_io.resolve_encoder(ev, allow_scratch=False).encoder_cfg
