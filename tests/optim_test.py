"""Tests of ssljax.optim against hand-computed NumPy updates and schedule values."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ssljax import models, optim


def _rng_tree(seed):
    rng = np.random.default_rng(seed)
    return {
        "conv": {"kernel": rng.standard_normal((3, 3, 2, 4)).astype(np.float32)},
        "dense": {"kernel": rng.standard_normal((4, 3)).astype(np.float32),
                  "bias": rng.standard_normal(3).astype(np.float32)},
        "bn": {"scale": rng.standard_normal(4).astype(np.float32),
               "bias": rng.standard_normal(4).astype(np.float32)},
    }


def _run(tx, params, grads_seq):
    params = jax.tree.map(jnp.asarray, params)
    state = tx.init(params)
    updates_seq = []
    for grads in grads_seq:
        updates, state = tx.update(jax.tree.map(jnp.asarray, grads), state, params)
        updates_seq.append(updates)
        params = optax.apply_updates(params, updates)
    return updates_seq


def _is_vector(path):
    return path[-1].key in ("bias", "scale")


# ---------------------------------------------------------------- masks


def test_decay_mask_on_real_parameter_tree():
    encoder = models.get_encoder("resnet18")
    head = models.MLPHead((64,), 32)  # hidden Dense without bias (BN), final Dense with bias
    x = jnp.zeros((1, 32, 32, 3))
    params = {
        "encoder": jax.eval_shape(lambda k: encoder.init(k, x, train=False), jax.random.key(0)
                                  )["params"],
        "head": jax.eval_shape(lambda k: head.init(k, jnp.zeros((1, 512)), train=False),
                               jax.random.key(0))["params"],
    }
    mask = optim.decay_mask(params)
    flat = jax.tree_util.tree_flatten_with_path(mask)[0]
    for path, decayed in flat:
        assert decayed is (not _is_vector(path)), jax.tree_util.keystr(path)
    excluded = [jax.tree_util.keystr(p) for p, d in flat if not d]
    bn_layers = 1 + 8 * 2 + 3  # stem, two per basic block, three projection shortcuts
    assert len(excluded) == 2 * bn_layers + 1 + 2  # + head's final bias, head's BN
    assert "['head']['dense1']['bias']" in excluded
    assert all("kernel" in jax.tree_util.keystr(p) for p, d in flat if d)


@pytest.mark.slow
def test_lars_masks_reach_optax_on_real_tree():
    model = models.get_encoder("vit_test")
    shapes = jax.eval_shape(lambda k: model.init(k, jnp.zeros((1, 16, 16, 3)), train=False),
                            jax.random.key(0))["params"]
    params = jax.tree.map(lambda s: jnp.ones(s.shape), shapes)
    zeros = jax.tree.map(jnp.zeros_like, params)
    # Zero gradients: only weight decay moves a leaf; the trust ratio of a decayed leaf is
    # then η‖w‖/‖wd·w‖ = η/wd, so its update is −lr·η·w exactly.
    (updates,) = _run(optim.lars(0.5, weight_decay=0.1, trust_coefficient=0.01), params,
                      [zeros])
    flat = jax.tree_util.tree_flatten_with_path(updates)[0]
    # Flax attention biases are [heads, head_dim] matrices: excluded by name, not rank.
    assert any(_is_vector(p) and u.ndim == 2 for p, u in flat)
    for path, u in flat:
        expected = 0.0 if _is_vector(path) else -0.5 * 0.01
        np.testing.assert_allclose(u, expected, rtol=1e-4, err_msg=jax.tree_util.keystr(path))


# ---------------------------------------------------------------- LARS / SGD / AdamW


def _numpy_lars(params, grads_seq, lr, wd, momentum, eta, eps, exclude):
    mom = {k: np.zeros_like(v) for k, v in params.items()}
    params = dict(params)
    out = []
    for grads in grads_seq:
        upd = {}
        for k, w in params.items():
            g = grads[k].astype(np.float64)
            w = w.astype(np.float64)
            adapted = not (exclude and w.ndim <= 1)
            if adapted:
                g = g + wd * w
                w_norm, u_norm = np.linalg.norm(w), np.linalg.norm(g)
                ratio = eta * w_norm / (u_norm + eps) if w_norm > 0 and u_norm > 0 else 1.0
                g = g * ratio
            mom[k] = momentum * mom[k] + lr * g
            upd[k] = -mom[k]
        params = {k: params[k] + upd[k] for k in params}
        out.append(upd)
    return out


@pytest.mark.parametrize("exclude", [True, False])
def test_lars_two_steps_match_numpy(exclude):
    flat = lambda t: {jax.tree_util.keystr(p): np.asarray(v)
                      for p, v in jax.tree_util.tree_flatten_with_path(t)[0]}
    params = _rng_tree(0)
    grads_seq = [_rng_tree(1), _rng_tree(2)]
    tx = optim.lars(0.3, weight_decay=0.05, momentum=0.9, trust_coefficient=0.02, eps=1e-3,
                    exclude_bn_and_bias=exclude)
    got = [flat(u) for u in _run(tx, params, grads_seq)]
    want = _numpy_lars(flat(params), [flat(g) for g in grads_seq], lr=0.3, wd=0.05,
                       momentum=0.9, eta=0.02, eps=1e-3, exclude=exclude)
    for g_step, w_step in zip(got, want, strict=True):
        for k in w_step:
            np.testing.assert_allclose(g_step[k], w_step[k], rtol=1e-5, atol=1e-7, err_msg=k)
    # Excluded leaves take plain momentum-SGD steps: -lr·g on the first step.
    first = got[0]["['bn']['scale']"]
    if exclude:
        np.testing.assert_allclose(first, -0.3 * grads_seq[0]["bn"]["scale"], rtol=1e-6)
    else:
        assert not np.allclose(first, -0.3 * grads_seq[0]["bn"]["scale"])


def test_sgd_couples_weight_decay_like_pytorch():
    params = _rng_tree(3)
    grads_seq = [_rng_tree(4), _rng_tree(5)]
    lr, wd, m = 0.1, 0.01, 0.9
    got = _run(optim.sgd(lr, momentum=m, weight_decay=wd), params, grads_seq)
    for key in (("dense", "kernel"), ("dense", "bias")):
        w = params[key[0]][key[1]].astype(np.float64)
        buf = np.zeros_like(w)
        for step, grads in enumerate(grads_seq):
            g = grads[key[0]][key[1]] + (wd * w if key[1] == "kernel" else 0.0)
            buf = m * buf + g  # torch.optim.SGD (dampening 0)
            np.testing.assert_allclose(got[step][key[0]][key[1]], -lr * buf, rtol=1e-5,
                                       atol=1e-7)
            w = w - lr * buf
    # mask=None decays every leaf; momentum=0 is plain SGD.
    (plain,) = _run(optim.sgd(lr, momentum=0.0, weight_decay=wd, mask=None), params,
                    grads_seq[:1])
    np.testing.assert_allclose(plain["bn"]["bias"],
                               -lr * (grads_seq[0]["bn"]["bias"] + wd * params["bn"]["bias"]),
                               rtol=1e-6)


def test_adamw_default_mask_skips_vectors():
    params = _rng_tree(6)
    zeros = jax.tree.map(np.zeros_like, params)
    (updates,) = _run(optim.adamw(0.1, weight_decay=0.5), params, [zeros])
    np.testing.assert_allclose(updates["dense"]["kernel"], -0.1 * 0.5 * params["dense"]["kernel"],
                               rtol=1e-6)
    np.testing.assert_array_equal(updates["dense"]["bias"], 0.0)
    np.testing.assert_array_equal(updates["bn"]["scale"], 0.0)


@pytest.mark.slow
def test_make_optimizer_names_and_freeze():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adam' \(did you mean 'adamw'\?\);"
                                         r" set --config.optimizer.name to one of: adamw, "
                                         r"lars, sgd"):
        optim.make_optimizer("adam", 0.1)
    with pytest.raises(ValueError, match="bad arguments for optimizer 'lars'"):
        optim.make_optimizer("lars", 0.1)  # weight_decay is required
    model = models.get_encoder("vit_test")
    shapes = jax.eval_shape(lambda k: model.init(k, jnp.zeros((1, 16, 16, 3)), train=False),
                            jax.random.key(0))["params"]
    params = jax.tree.map(lambda s: jnp.ones(s.shape), shapes)
    grads = jax.tree.map(lambda p: 0.5 * p, params)
    frozen = optim.freeze_mask(params, ["patch_embed"])
    assert frozen["patch_embed"] == {"kernel": True, "bias": True}
    assert sum(jax.tree.leaves(frozen)) == 2
    for name, kwargs in [("lars", {"weight_decay": 1e-6}), ("sgd", {}),
                         ("adamw", {"weight_decay": 0.1})]:
        tx = optim.make_optimizer(name, 0.1, freeze=("patch_embed",), **kwargs)
        (updates,) = _run(tx, params, [grads])
        for path, u in jax.tree_util.tree_flatten_with_path(updates)[0]:
            if "patch_embed" in jax.tree_util.keystr(path):
                np.testing.assert_array_equal(u, 0.0)
            else:
                assert np.all(u != 0.0), (name, jax.tree_util.keystr(path))


# ---------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    "scaling,base_lr,batch_size,peak",
    [("linear", 0.3, 512, 0.6), ("sqrt", 0.075, 4096, 0.075 * 64.0), ("none", 0.05, 77, 0.05)],
)
def test_warmup_cosine_values(scaling, base_lr, batch_size, peak):
    # 10 epochs of 10 steps, 2 warmup epochs: warmup ends at 20, cosine midpoint at 60.
    sched = optim.warmup_cosine(base_lr, batch_size, 2, 10, 10, scaling=scaling)
    expect = {0: 0.0, 10: peak / 2, 20: peak, 40: peak * (1 + math.cos(math.pi / 4)) / 2,
              60: peak / 2, 100: 0.0, 130: 0.0}
    for step, value in expect.items():
        np.testing.assert_allclose(sched(step), value, rtol=1e-5, atol=1e-7, err_msg=str(step))
    np.testing.assert_allclose(jax.jit(sched)(jnp.int32(60)), peak / 2, rtol=1e-5)


def test_warmup_cosine_end_value_and_no_warmup():
    sched = optim.warmup_cosine(0.1, 256, 0, 4, 25, end_value=0.01)
    np.testing.assert_allclose([sched(0), sched(50), sched(100), sched(200)],
                               [0.1, 0.055, 0.01, 0.01], rtol=1e-5)
    warm = optim.warmup_cosine(0.1, 256, 0.5, 1, 10, end_value=0.02)  # 5 warmup steps
    np.testing.assert_allclose([warm(0), warm(5), warm(10)], [0.0, 0.1, 0.02], rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"scaling": "log"}, "scaling"),
        ({"warmup_epochs": 11}, "warmup_epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"base_lr": -1.0}, "learning rates"),
        ({"total_epochs": 0, "warmup_epochs": 0}, "total_epochs"),
    ],
)
def test_warmup_cosine_validates(kwargs, match):
    args = {"base_lr": 0.1, "batch_size": 256, "warmup_epochs": 1, "total_epochs": 10,
            "steps_per_epoch": 5} | kwargs
    with pytest.raises(ValueError, match=match):
        optim.warmup_cosine(**args)


# ---------------------------------------------------------------- EMA


def test_ema_update():
    target = {"w": np.array([1.0, 2.0], np.float32), "b": {"c": np.float32(-4.0)}}
    online = {"w": np.array([3.0, -2.0], np.float32), "b": {"c": np.float32(6.0)}}
    new = optim.ema_update(target, online, 0.9)
    np.testing.assert_allclose(new["w"], [0.9 * 1 + 0.1 * 3, 0.9 * 2 - 0.1 * 2], rtol=1e-6)
    np.testing.assert_allclose(new["b"]["c"], 0.9 * -4 + 0.1 * 6, rtol=1e-6)
    jitted = jax.jit(optim.ema_update)(target, online, jnp.float32(0.99))
    np.testing.assert_allclose(jitted["w"], [1.02, 1.96], rtol=1e-6)
    jax.tree.map(np.testing.assert_array_equal, optim.ema_update(target, online, 1.0), target)
    jax.tree.map(np.testing.assert_array_equal, optim.ema_update(target, online, 0.0), online)


def test_cosine_ema_schedule():
    tau = lambda k: optim.cosine_ema_schedule(k, 1000, 0.996)
    np.testing.assert_allclose(tau(0), 0.996, rtol=1e-6)
    np.testing.assert_allclose(tau(1000), 1.0, rtol=1e-6)
    np.testing.assert_allclose(tau(500), 0.998, rtol=1e-6)
    np.testing.assert_allclose(tau(250), 1 - 0.004 * (math.cos(math.pi / 4) + 1) / 2,
                               rtol=1e-6)
    np.testing.assert_allclose(tau(5000), 1.0, rtol=1e-6)  # clipped after K
    jitted = jax.jit(lambda k: optim.cosine_ema_schedule(k, 100, 0.99))
    np.testing.assert_allclose(jitted(jnp.int32(50)), 0.995, rtol=1e-6)
    np.testing.assert_allclose(optim.cosine_ema_schedule(0, 10, 0.9, tau_end=0.99), 0.9,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="total_steps"):
        optim.cosine_ema_schedule(0, 0, 0.99)


# ---------------------------------------------------------------- DINO's recipe pieces


def _dino_cosine_scheduler(base, final, epochs, niter_per_ep, warmup_epochs=0, start_warmup=0):
    """The DINO authors' `utils.cosine_scheduler` (NumPy, float64)."""
    warmup_iters = warmup_epochs * niter_per_ep
    warmup = np.linspace(start_warmup, base, warmup_iters) if warmup_iters > 0 else np.array([])
    iters = np.arange(epochs * niter_per_ep - warmup_iters)
    schedule = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate((warmup, schedule))


def test_cosine_ramp_matches_dinos_weight_decay_schedule():
    ref = _dino_cosine_scheduler(0.04, 0.4, epochs=7, niter_per_ep=13)
    got = jax.jit(jax.vmap(optim.cosine_ramp(0.04, 0.4, 7 * 13)))(jnp.arange(7 * 13))
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(optim.cosine_ramp(0.04, 0.4, 91)(500), 0.4, rtol=1e-6)
    with pytest.raises(ValueError, match="total_steps"):
        optim.cosine_ramp(0.04, 0.4, 0)


def test_clip_per_tensor_matches_dinos_clip_gradients():
    grads = _rng_tree(3)
    grads["dense"]["bias"] = grads["dense"]["bias"] * 1e-3  # one leaf below the threshold
    clipped, _ = optim.clip_per_tensor(1.5).update(grads, optax.EmptyState())
    for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
        g64 = np.asarray(g, np.float64)
        coef = 1.5 / (np.linalg.norm(g64.ravel()) + 1e-6)  # DINO: clip / (norm + 1e-6)
        want = g64 * coef if coef < 1 else g64
        got = clipped
        for k in path:
            got = got[k.key]
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=jax.tree_util.keystr(path))
    np.testing.assert_array_equal(clipped["dense"]["bias"], grads["dense"]["bias"])
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_per_tensor(0.0)


@pytest.mark.parametrize("name,kwargs", [("sgd", {"weight_decay": 0.1}),
                                         ("adamw", {"weight_decay": 0.1})])
def test_exclude_bn_and_bias_false_decays_every_leaf(name, kwargs):
    params = _rng_tree(4)
    zeros = jax.tree.map(np.zeros_like, params)
    (default,) = _run(optim.make_optimizer(name, 0.5, **kwargs), params, [zeros])
    (all_,) = _run(optim.make_optimizer(name, 0.5, exclude_bn_and_bias=False, **kwargs),
                   params, [zeros])
    np.testing.assert_array_equal(default["bn"]["scale"], 0.0)
    # torch.optim.SGD / AdamW over model.parameters(): every leaf decays, first step -lr·wd·w.
    for leaf in (("bn", "scale"), ("bn", "bias"), ("dense", "bias"), ("dense", "kernel")):
        np.testing.assert_allclose(all_[leaf[0]][leaf[1]],
                                   -0.5 * 0.1 * params[leaf[0]][leaf[1]], rtol=1e-6)


def _numpy_adamw(p, grads, lrs, wds, b1=0.9, b2=0.999, eps=1e-8):
    """torch.optim.AdamW on one tensor (float64): a fresh optimizer over `grads`."""
    p, m, v = np.asarray(p, np.float64), 0.0, 0.0
    for t, (g, lr, wd) in enumerate(zip(grads, lrs, wds, strict=True), start=1):
        p = p * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


def test_late_start_group_is_a_fresh_adamw_after_its_freeze():
    from ssljax.engine import hold  # noqa: PLC0415

    params = {"body": {"kernel": np.ones((3, 2), np.float32)},
              "last_layer": {"kernel": np.full((2, 4), 0.5, np.float32)}}
    rng = np.random.default_rng(0)
    grads_seq = [jax.tree.map(lambda p: rng.standard_normal(p.shape).astype(np.float32), params)
                 for _ in range(7)]
    start, total = 3, 7
    lr = optax.warmup_cosine_decay_schedule(0.0, 0.1, 2, total)
    wd = optim.cosine_ramp(0.04, 0.4, total)
    tx = optim.make_optimizer("adamw", lr, weight_decay=wd, late_start={"last_layer": start},
                              clip_norm_per_tensor=3.0)
    p = jax.tree.map(jnp.asarray, params)
    state = tx.init(p)
    state0_last = jax.device_get(state[1].inner_states["last_layer"])  # (clip, groups)
    for step, g in enumerate(grads_seq):
        updates, new_state = tx.update(jax.tree.map(jnp.asarray, g), state, p)
        new_p = optax.apply_updates(p, updates)
        frozen = {"last_layer": jnp.asarray(step < start)}
        p, state = hold(new_p, p, frozen), hold(new_state, state, frozen)
        if step == start - 1:  # through the freeze: bit-identical, its state untouched
            np.testing.assert_array_equal(p["last_layer"]["kernel"], params["last_layer"]["kernel"])
            jax.tree.map(np.testing.assert_array_equal,
                         jax.device_get(state[1].inner_states["last_layer"]), state0_last)
    clip = lambda g: g * min(1.0, 3.0 / (np.linalg.norm(g) + 1e-6))  # noqa: E731
    steps = range(start, total)
    last_grads = [clip(np.float64(grads_seq[t]["last_layer"]["kernel"])) for t in steps]
    want_last = _numpy_adamw(params["last_layer"]["kernel"], last_grads,
                             [float(lr(t)) for t in steps], [float(wd(t)) for t in steps])
    np.testing.assert_allclose(p["last_layer"]["kernel"], want_last, rtol=1e-5, atol=1e-7)
    want_body = _numpy_adamw(params["body"]["kernel"],
                             [clip(np.float64(g["body"]["kernel"])) for g in grads_seq],
                             [float(lr(t)) for t in range(total)],
                             [float(wd(t)) for t in range(total)])
    np.testing.assert_allclose(p["body"]["kernel"], want_body, rtol=1e-5, atol=1e-7)


def test_fixed_lr_group_keeps_the_initial_rate_as_simsiams_fix_pred_lr():
    params = {"encoder": {"kernel": np.ones((3, 2), np.float32)},
              "predictor": {"dense0": {"kernel": np.ones((2, 2), np.float32)}}}
    grads = jax.tree.map(lambda p: np.full(p.shape, 0.5, np.float32), params)
    schedule = optax.cosine_decay_schedule(0.2, 4)
    tx = optim.make_optimizer("sgd", schedule, momentum=0.0, fixed_lr={"predictor": 0.2})
    for t, u in enumerate(_run(tx, params, [grads] * 4)):
        # main_simsiam.py adjust_learning_rate: fix_lr groups stay at init_lr.
        np.testing.assert_allclose(u["predictor"]["dense0"]["kernel"], -0.2 * 0.5, rtol=1e-6)
        np.testing.assert_allclose(u["encoder"]["kernel"], -float(schedule(t)) * 0.5, rtol=1e-6)
    assert optim.peak_lr(0.05, 512, "linear") == pytest.approx(0.1)


def test_no_decay_lr_scale_is_barlow_twins_bias_learning_rate():
    """facebookresearch/barlowtwins LARS: weights at lr·0.2 with decay and adaptation,
    biases/BN at lr·0.0048 without either (plain momentum SGD)."""
    params, grads = _rng_tree(7), _rng_tree(8)
    lr_w, lr_b, wd = 0.2, 0.0048, 1e-6
    tx = optim.make_optimizer("lars", lr_w, weight_decay=wd, momentum=0.9,
                              no_decay_lr_scale=lr_b / lr_w)
    (u,) = _run(tx, params, [grads])
    np.testing.assert_allclose(u["bn"]["bias"], -lr_b * grads["bn"]["bias"], rtol=1e-5)
    np.testing.assert_allclose(u["dense"]["bias"], -lr_b * grads["dense"]["bias"], rtol=1e-5)
    w, g = np.float64(params["dense"]["kernel"]), np.float64(grads["dense"]["kernel"])
    d = g + wd * w
    q = 1e-3 * np.linalg.norm(w) / np.linalg.norm(d)  # eta·‖w‖/‖dp‖
    np.testing.assert_allclose(u["dense"]["kernel"], -lr_w * q * d, rtol=1e-5)


def test_patch_embed_lr_mult_scales_only_the_patch_embedding():
    """`optimizer.patch_embed_lr_mult` (DINOv2's 0.2): that subtree's step × 0.2, others
    unchanged; 1 leaves the optimizer (and its state) as it was."""
    import ml_collections  # noqa: PLC0415

    from ssljax import training  # noqa: PLC0415
    from ssljax.config_base import optimizer_block  # noqa: PLC0415

    params = {"patch_embed": {"kernel": jnp.ones((2, 2))}, "block0": {"w": jnp.ones(3)}}
    grads = jax.tree.map(lambda a: jnp.full_like(a, 0.5), params)
    block = optimizer_block("sgd", 0.1)
    block.momentum = 0.0
    plain = training.optimizer(block, 0.1)
    block.patch_embed_lr_mult = 0.2
    scaled = training.optimizer(block, 0.1)
    u1, _ = plain.update(grads, plain.init(params), params)
    u2, _ = scaled.update(grads, scaled.init(params), params)
    np.testing.assert_allclose(u2["patch_embed"]["kernel"], 0.2 * u1["patch_embed"]["kernel"])
    np.testing.assert_allclose(u2["block0"]["w"], u1["block0"]["w"])
    block.patch_embed_lr_mult = 1.0
    assert jax.tree.structure(training.optimizer(block, 0.1).init(params)) == \
        jax.tree.structure(plain.init(params))
    assert isinstance(block, ml_collections.ConfigDict)
