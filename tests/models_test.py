"""Tests of ssljax.models: shapes, parameter counts, BatchNorm modes, dtypes, ViT resizing.

Large models are only traced (`jax.eval_shape`); forward passes use tiny inputs and, for
the ResNets, parameters filled with NumPy (a real `init` compiles hundreds of random ops).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssljax import models
from ssljax.layer_decay import layer_decay_multipliers
from ssljax.models import (
    BasicBlock,
    Bottleneck,
    DINOHead,
    MLPHead,
    SmallCNN,
    interpolate_pos_embed,
)


def _count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _shapes(module, x, **kwargs):
    """Variables of `module.init` as ShapeDtypeStructs (nothing is computed)."""
    return jax.eval_shape(
        lambda k: module.init(k, x, train=False, **kwargs), jax.random.key(0)
    )


def _numpy_variables(module, x, seed=0):
    """Cheap stand-in for `init`: BN at identity, kernels He-normal (fan_in) from NumPy."""
    rng = np.random.default_rng(seed)

    def fill(path, s):
        name = path[-1].key
        if name in ("scale", "var"):
            return jnp.ones(s.shape, s.dtype)
        if name in ("bias", "mean"):
            return jnp.zeros(s.shape, s.dtype)
        fan_in = max(int(np.prod(s.shape[:-1])), 1)
        return jnp.asarray(rng.standard_normal(s.shape) * np.sqrt(2.0 / fan_in), s.dtype)

    return jax.tree_util.tree_map_with_path(fill, _shapes(module, x))


@functools.cache
def _vit_test_variables():
    model = models.get_encoder("vit_test")  # patch 8: a 4×4 grid at 32 px
    return model, _numpy_variables(model, jnp.zeros((2, 32, 32, 3)))


# ---------------------------------------------------------------- registry


def test_encoder_names_and_unknown_name():
    assert models.encoder_names() == (
        "resnet18", "resnet34", "resnet50", "small_cnn",
        "vit_base", "vit_huge", "vit_large", "vit_mini", "vit_small", "vit_test", "vit_tiny",
    )
    with pytest.raises(ValueError, match=r"unknown encoder 'resnet101' \(did you mean "
                                         r"'resnet50'\?\); set --config.encoder.name to one "
                                         r"of: resnet18, resnet34") as e:
        models.get_encoder("resnet101")
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="bad arguments for encoder 'resnet18'"):
        models.get_encoder("resnet18", depth=3)


@pytest.mark.parametrize(
    "name,kwargs,dim",
    [
        ("small_cnn", {}, 256),
        ("resnet18", {}, 512),
        ("resnet34", {"width": 2}, 1024),
        ("resnet50", {}, 2048),
        ("resnet50", {"width": 4}, 8192),
        ("vit_test", {}, 32),
        ("vit_tiny", {}, 192),
        ("vit_small", {"patch_size": 8}, 384),
        ("vit_base", {}, 768),
    ],
)
def test_feature_dim(name, kwargs, dim):
    assert models.feature_dim(name, **kwargs) == dim


# ---------------------------------------------------------------- shapes (traced only)


@pytest.mark.parametrize(
    "name,kwargs,shape",
    [
        ("small_cnn", {}, (3, 28, 28, 1)),
        ("resnet18", {"stem": "cifar"}, (3, 32, 32, 3)),
        ("resnet34", {}, (3, 64, 64, 3)),
        ("resnet50", {"width": 2, "stem": "cifar"}, (3, 32, 32, 3)),
        ("vit_test", {}, (3, 32, 32, 3)),
        ("vit_tiny", {}, (3, 64, 64, 3)),
        ("vit_small", {}, (3, 224, 224, 3)),
        ("vit_base", {"patch_size": 32}, (3, 64, 64, 3)),
    ],
)
def test_encoder_output_shapes_traced(name, kwargs, shape):
    model = models.get_encoder(name, **kwargs)
    x = jnp.zeros(shape)
    variables = _shapes(model, x)
    out = jax.eval_shape(lambda v: model.apply(v, x, train=False), variables)
    assert out.shape == (shape[0], model.feature_dim)
    assert out.dtype == jnp.float32


@pytest.mark.parametrize("stem,side", [("imagenet", 8), ("cifar", 32)])
def test_resnet_stems(stem, side):
    model = models.get_encoder("resnet18", stem=stem)
    x = jnp.zeros((2, 32, 32, 3))
    _, inter = jax.eval_shape(
        lambda v: model.apply(v, x, train=False, capture_intermediates=True,
                              mutable=["intermediates"]),
        _shapes(model, x),
    )
    stage1 = inter["intermediates"]["stage1_block2"]["__call__"][0]
    assert stage1.shape == (2, side, side, 64)
    stage4 = inter["intermediates"]["stage4_block2"]["__call__"][0]
    assert stage4.shape == (2, side // 8, side // 8, 512)


def test_resnet_bfloat16_traced():
    model = models.get_encoder("resnet50", dtype=jnp.bfloat16, stem="cifar")
    x = jnp.zeros((2, 16, 16, 3))
    variables = _shapes(model, x)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables))
    out, state = jax.eval_shape(
        lambda v: model.apply(v, x, train=True, capture_intermediates=True,
                              mutable=["intermediates", "batch_stats"]),
        variables,
    )
    assert out.dtype == jnp.float32 and out.shape == (2, 2048)
    inter = state["intermediates"]
    assert inter["stem_conv"]["__call__"][0].dtype == jnp.bfloat16
    assert inter["stage4_block3"]["__call__"][0].dtype == jnp.bfloat16
    assert all(s.dtype == jnp.float32 for s in jax.tree.leaves(state["batch_stats"]))


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="stem"):
        _shapes(models.get_encoder("resnet18", stem="tiny"), jnp.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match="patch_size 8 must divide"):
        _shapes(models.get_encoder("vit_test"), jnp.zeros((1, 20, 20, 3)))
    with pytest.raises(ValueError, match="NHWC"):
        _shapes(SmallCNN(), jnp.zeros((28, 28, 1)))


# ---------------------------------------------------------------- parameter counts


@pytest.mark.parametrize(
    "name,kwargs,expected",
    [
        # torchvision: 11,689,512 / 21,797,672 / 25,557,032 with the 1000-class fc.
        ("resnet18", {}, 11_689_512 - (512 * 1000 + 1000)),
        ("resnet34", {}, 21_797_672 - (512 * 1000 + 1000)),
        ("resnet50", {}, 25_557_032 - (2048 * 1000 + 1000)),
        # timm vit_*_patch16_224: 5,717,416 / 22,050,664 / 86,567,656 with the 1000-way head.
        ("vit_tiny", {}, 5_717_416 - (192 * 1000 + 1000)),
        ("vit_small", {}, 22_050_664 - (384 * 1000 + 1000)),
        ("vit_base", {}, 86_567_656 - (768 * 1000 + 1000)),
    ],
)
def test_published_parameter_counts(name, kwargs, expected):
    model = models.get_encoder(name, **kwargs)
    variables = _shapes(model, jnp.zeros((1, 224, 224, 3)))
    assert _count(variables["params"]) == expected


def test_resnet50_width_multiplier_parameter_count():
    # SimCLR Table: ResNet-50 (2×) has 94M parameters; every conv has 4× the weights.
    variables = _shapes(models.get_encoder("resnet50", width=2), jnp.zeros((1, 224, 224, 3)))
    count = _count(variables["params"])
    assert 93.5e6 < count < 94.5e6


# ---------------------------------------------------------------- forward passes


@pytest.mark.slow  # full-size forward passes
def test_resnet18_forward_train_and_eval():
    model = models.get_encoder("resnet18", stem="cifar")
    x = jax.random.normal(jax.random.key(1), (4, 16, 16, 3))
    variables = _numpy_variables(model, x)
    feats, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    assert feats.shape == (4, 512) and feats.dtype == jnp.float32
    assert np.all(np.isfinite(feats))
    changed = jax.tree.map(lambda a, b: not np.allclose(a, b), updates["batch_stats"],
                           variables["batch_stats"])
    assert all(jax.tree.leaves(changed))
    feats_eval = model.apply(variables, x, train=False)
    assert feats_eval.shape == (4, 512)


@pytest.mark.slow  # full-size forward passes
def test_resnet50_forward_once():
    model = models.get_encoder("resnet50")
    x = jax.random.normal(jax.random.key(2), (2, 32, 32, 3))
    variables = _numpy_variables(model, x)
    feats, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    assert feats.shape == (2, 2048) and feats.dtype == jnp.float32
    assert np.all(np.isfinite(feats)) and np.all(feats >= 0)  # after ReLU and mean pool
    assert set(updates["batch_stats"]) == set(variables["batch_stats"])


def test_small_cnn_batch_norm_train_vs_eval():
    model = SmallCNN(channels=(8, 16), strides=(2, 2))
    variables = _numpy_variables(model, jnp.zeros((4, 16, 16, 1)))
    x = jax.random.uniform(jax.random.key(3), (4, 16, 16, 1))
    feats, updates = model.apply(
        variables, x, train=True, capture_intermediates=True,
        mutable=["batch_stats", "intermediates"],
    )
    assert feats.shape == (4, 16)
    # Flax momentum 0.9: running = 0.9·running + 0.1·batch (biased variance).
    conv1 = np.asarray(updates["intermediates"]["conv1"]["__call__"][0], np.float64)
    stats = updates["batch_stats"]["bn1"]
    np.testing.assert_allclose(stats["mean"], 0.1 * conv1.mean((0, 1, 2)), rtol=1e-4,
                               atol=1e-7)
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * conv1.var((0, 1, 2)), rtol=1e-4)
    # train: an example's features depend on the rest of the batch; eval: they do not.
    feats_first = model.apply(variables, x[:2], train=True, mutable=["batch_stats"])[0]
    assert not np.allclose(feats_first, feats[:2], atol=1e-5)
    eval_all, eval_updates = model.apply(variables, x, train=False, mutable=["batch_stats"])
    eval_first = model.apply(variables, x[:2], train=False)
    np.testing.assert_allclose(eval_first, eval_all[:2], rtol=1e-5, atol=1e-6)
    jax.tree.map(np.testing.assert_array_equal, eval_updates["batch_stats"],
                 variables["batch_stats"])


def test_small_cnn_default_config_on_digits():
    model = SmallCNN()
    x = jnp.zeros((2, 28, 28, 1))
    variables = _shapes(model, x)
    inter = jax.eval_shape(
        lambda v: model.apply(v, x, train=False, capture_intermediates=True,
                              mutable=["intermediates"])[1],
        variables,
    )["intermediates"]
    sides = [inter[f"conv{i}"]["__call__"][0].shape[1] for i in range(1, 5)]
    assert sides == [14, 7, 7, 4]
    assert model.feature_dim == 256


def test_zero_init_residual_and_he_fan_out_init():
    x = jax.nn.relu(jax.random.normal(jax.random.key(4), (2, 8, 8, 64)))
    for block, last in ((BasicBlock(64), "bn2"), (Bottleneck(16), "bn3")):
        variables = jax.jit(lambda k, b=block: b.init(k, x, train=False))(jax.random.key(0))
        np.testing.assert_array_equal(variables["params"][last]["scale"], 0.0)
        # Identity shortcut + zero last gamma: the block starts as the identity on ReLU inputs.
        np.testing.assert_allclose(block.apply(variables, x, train=False), x, atol=1e-6)
        kernel = np.asarray(variables["params"]["conv2"]["kernel"])
        assert "bias" not in variables["params"]["conv2"]
        fan_out = 9 * kernel.shape[-1]
        np.testing.assert_allclose(kernel.std(), np.sqrt(2.0 / fan_out), rtol=0.06)
    shapes = _shapes(BasicBlock(64, zero_init_residual=False), x)
    variables = jax.jit(
        lambda k: BasicBlock(64, zero_init_residual=False).init(k, x, train=False)
    )(jax.random.key(0))
    assert shapes["params"]["bn2"]["scale"].shape == (64,)
    np.testing.assert_array_equal(variables["params"]["bn2"]["scale"], 1.0)


@pytest.mark.parametrize("which", ["small_cnn", pytest.param("vit", marks=pytest.mark.slow),
                                   "mlp_head"])
def test_bfloat16_activations_float32_params_and_outputs(which):
    if which == "small_cnn":
        model = SmallCNN(channels=(8, 16), strides=(2, 2), dtype=jnp.bfloat16)
        x = jnp.ones((2, 16, 16, 1))
        inner = ("conv1", "bn2")
    elif which == "vit":
        model = models.get_encoder("vit_test", dtype=jnp.bfloat16)
        x = jnp.ones((2, 16, 16, 3))
        inner = ("patch_embed", "block1")
    else:
        model = MLPHead((16,), 8, last_bn=True, dtype=jnp.bfloat16)
        x = jnp.ones((4, 12))
        inner = ("dense0", "bn1")
    variables = jax.jit(lambda k: model.init(k, x, train=False))(jax.random.key(0))
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables))
    out, state = model.apply(variables, x, train=True, capture_intermediates=True,
                             mutable=["intermediates", "batch_stats"])
    assert out.dtype == jnp.float32
    for name in inner:
        assert state["intermediates"][name]["__call__"][0].dtype == jnp.bfloat16, name


# ---------------------------------------------------------------- ViT


@pytest.mark.slow  # full-size forward passes
def test_vit_position_embeddings_are_interpolated():
    model, variables = _vit_test_variables()
    assert variables["params"]["pos_embed"].shape == (1, 1 + 16, 32)
    assert variables["params"]["patch_embed"]["kernel"].shape == (8, 8, 3, 32)
    x32 = jax.random.uniform(jax.random.key(6), (2, 32, 32, 3))
    out32 = model.apply(variables, x32, train=False)
    out16 = model.apply(variables, x32[:, ::2, ::2], train=False)
    assert out32.shape == out16.shape == (2, 32)
    assert np.all(np.isfinite(out16)) and not np.allclose(out16, out32)
    # Fixed img_size: the embeddings have that grid whatever the init resolution.
    shapes = _shapes(models.get_encoder("vit_test", img_size=64), jnp.zeros((1, 32, 32, 3)))
    assert shapes["params"]["pos_embed"].shape == (1, 1 + 64, 32)


def test_vit_conv_stem_is_xiaos_stride_2_convolutions_under_patch_embed():
    # Xiao et al.: log2(p) 3x3 stride-2 convolutions (channels doubling up to D) and a 1x1
    # projection, all under `patch_embed` (layer 0 of layer decay, DINOv2's lr factor).
    model = models.get_encoder("vit_test", stem="conv", patch_size=8)
    shapes = _shapes(model, jnp.zeros((1, 32, 32, 1)))["params"]["patch_embed"]
    kernels = {k: v["kernel"].shape for k, v in shapes.items() if "kernel" in v}
    assert kernels == {"conv0": (3, 3, 1, 8), "conv1": (3, 3, 8, 16),
                       "conv2": (3, 3, 16, 32), "proj": (1, 1, 32, 32)}
    assert sorted(k for k in shapes if k.startswith("norm")) == ["norm0", "norm1", "norm2"]
    variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 1)), train=False)
    factors = layer_decay_multipliers(variables["params"], 0.5)["patch_embed"]
    assert set(jax.tree.leaves(factors)) == {0.5 ** 3}  # layer 0 of a 2-block ViT
    x = jax.random.uniform(jax.random.key(1), (2, 32, 32, 1))
    tokens = model.apply(variables, x, train=False, tokens=True)
    assert tokens.shape == (2, 1 + 16, 32) and np.all(np.isfinite(tokens))
    # The stem alone: token (i, j) sees pixels 8i .. 8i + 14 (its 8x8 patch and 7 past it,
    # right and bottom), so changing the top-left patch moves token (0, 0), not (1, 1).
    stem = models.vit.ConvStem(32, 8)
    stem_vars = stem.init(jax.random.key(2), x)
    grid = stem.apply(stem_vars, x)
    moved = stem.apply(stem_vars, x.at[:, :8, :8].add(1.0))
    assert grid.shape == (2, 4, 4, 32)
    assert not np.allclose(moved[:, 0, 0], grid[:, 0, 0])
    np.testing.assert_array_equal(moved[:, 1:, 1:], grid[:, 1:, 1:])
    reach = stem.apply(stem_vars, x.at[:, 14, 14].add(1.0)) - grid
    assert np.abs(reach[:, 0, 0]).max() > 0 and np.abs(reach[:, 2:, :]).max() == 0
    # Patchwise: the same parameters run on each patch alone; a token is its patch's stem
    # output and changing a neighbouring patch moves nothing else.
    alone = models.vit.ConvStem(32, 8, patchwise=True)
    split = alone.apply(stem_vars, x)
    np.testing.assert_allclose(split[:, 1, 2], stem.apply(stem_vars, x[:, 8:16, 16:24])[:, 0, 0],
                               atol=1e-5)
    moved = alone.apply(stem_vars, x.at[:, 14, 14].add(1.0)) - split
    assert np.abs(moved[:, 1, 1]).max() > 0
    assert np.abs(moved.at[:, 1, 1].set(0.0)).max() == 0
    pw = models.get_encoder("vit_test", stem="conv_patchwise", patch_size=8)
    assert jax.tree.map(jnp.shape, pw.init(jax.random.key(0), x, train=False)) == jax.tree.map(
        jnp.shape, variables)  # one checkpoint layout for both stems
    with pytest.raises(ValueError, match="power-of-2 patch_size"):
        models.get_encoder("vit_test", stem="conv", patch_size=7).init(
            jax.random.key(0), jnp.zeros((1, 28, 28, 1)), train=False)
    with pytest.raises(ValueError, match="stem='bad' must be one of"):
        models.get_encoder("vit_test", stem="bad").init(
            jax.random.key(0), jnp.zeros((1, 16, 16, 1)), train=False)


def test_interpolate_pos_embed():
    pos = jax.random.normal(jax.random.key(7), (1, 1 + 16, 5))
    assert interpolate_pos_embed(pos, (4, 4)) is pos
    small = interpolate_pos_embed(pos, (2, 3))
    assert small.shape == (1, 1 + 6, 5)
    np.testing.assert_array_equal(small[:, 0], pos[:, 0])  # CLS untouched
    const = jnp.concatenate([pos[:, :1], jnp.full((1, 16, 5), 0.7)], axis=1)
    np.testing.assert_allclose(interpolate_pos_embed(const, (7, 7))[:, 1:], 0.7, rtol=1e-5)
    with pytest.raises(ValueError, match="square"):
        interpolate_pos_embed(pos[:, :-1], (2, 2))


@pytest.mark.slow
def test_vit_drop_path_needs_rng_only_in_training():
    model = models.get_encoder("vit_test", drop_path_rate=0.5)
    _, variables = _vit_test_variables()
    x = jax.random.uniform(jax.random.key(8), (4, 16, 16, 3))
    a = model.apply(variables, x, train=False)
    b = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(0)})
    assert a.shape == b.shape and not np.allclose(a, b)



def test_vit_rescale_init_divides_each_blocks_output_projections_as_ijepa():
    """I-JEPA's fix_init_weight: block i's attn.proj and mlp.fc2 weights / sqrt(2(i+1));
    every other parameter is the plain init's, draw for draw."""
    x = jnp.zeros((2, 16, 16, 3))
    plain = models.get_encoder("vit_test").init(jax.random.key(3), x, train=False)["params"]
    scaled = models.get_encoder("vit_test", rescale_init=True).init(
        jax.random.key(3), x, train=False)["params"]
    depth = sum(name.startswith("block") for name in plain)
    assert depth >= 2
    for path, a in jax.tree_util.tree_leaves_with_path(plain):
        keys = [k.key for k in path]
        b = scaled
        for k in keys:
            b = b[k]
        out = keys[1:] in (["attn", "out", "kernel"], ["mlp", "fc2", "kernel"])
        factor = 1.0 / np.sqrt(2.0 * (int(keys[0][5:]) + 1)) if out else 1.0
        np.testing.assert_allclose(np.asarray(b), np.asarray(a) * factor, rtol=1e-6,
                                   atol=1e-9, err_msg="/".join(keys))
    assert not np.allclose(scaled["block1"]["mlp"]["fc2"]["kernel"],
                           plain["block1"]["mlp"]["fc2"]["kernel"])

def test_vit_token_blocks_average_the_last_blocks_normed_tokens():
    """`token_blocks=K`: the mean of the last K blocks' tokens through the final norm; the
    block before the last is read by the same ViT cut one block short."""
    x = jax.random.normal(jax.random.key(0), (2, 16, 16, 1))
    deep = models.get_encoder("vit_test", use_cls=False, features="avgpool", patch_size=4)
    params = deep.init(jax.random.key(1), x, train=False)["params"]
    cut = models.ViT(dim=32, depth=1, num_heads=2, patch_size=4, use_cls=False,
                     features="avgpool")
    cut_params = {k: v for k, v in params.items() if k != "block1"}
    last = deep.apply({"params": params}, x, train=False, tokens=True)
    before = cut.apply({"params": cut_params}, x, train=False, tokens=True)
    np.testing.assert_allclose(
        deep.apply({"params": params}, x, train=False, tokens=True, token_blocks=1), last)
    np.testing.assert_allclose(
        deep.apply({"params": params}, x, train=False, tokens=True, token_blocks=2),
        (last + before) / 2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(last, before)
    with pytest.raises(ValueError, match="token_blocks=3 must be in 1..2"):
        deep.apply({"params": params}, x, train=False, tokens=True, token_blocks=3)


# ---------------------------------------------------------------- heads


def test_mlp_head_structure():
    head = MLPHead((16, 16), 8, last_bn=True, last_bn_affine=False)
    shapes = _shapes(head, jnp.zeros((4, 12)))
    params = jax.tree.map(lambda s: s.shape, shapes["params"])
    assert params == {
        "dense0": {"kernel": (12, 16)}, "bn0": {"scale": (16,), "bias": (16,)},
        "dense1": {"kernel": (16, 16)}, "bn1": {"scale": (16,), "bias": (16,)},
        "dense2": {"kernel": (16, 8)},
    }
    assert set(shapes["batch_stats"]) == {"bn0", "bn1", "bn2"}
    simclr = _shapes(MLPHead((16,), 8, last_bn=True, last_bn_center=False), jnp.zeros((4, 12)))
    assert jax.tree.map(lambda s: s.shape, simclr["params"]["bn1"]) == {"scale": (8,)}
    byol = _shapes(MLPHead((32,), 8), jnp.zeros((4, 12)))["params"]
    assert set(byol["dense1"]) == {"kernel", "bias"}
    linear = _shapes(MLPHead((), 10, use_bn=False), jnp.zeros((4, 12)))
    assert jax.tree.map(lambda s: s.shape, linear) == {
        "params": {"dense0": {"kernel": (12, 10), "bias": (10,)}}
    }


def test_dino_head():
    x = jax.random.normal(jax.random.key(9), (4, 12))
    head = DINOHead(out_dim=20, hidden_dim=16, bottleneck_dim=8)
    variables = jax.jit(lambda k: head.init(k, x, train=False))(jax.random.key(0))
    shapes = jax.tree.map(lambda a: a.shape, variables["params"])
    assert shapes == {
        "dense0": {"kernel": (12, 16), "bias": (16,)},
        "dense1": {"kernel": (16, 16), "bias": (16,)},
        "dense2": {"kernel": (16, 8), "bias": (8,)},
        "last_layer": {"kernel": (8, 20)},
    }
    logits = jax.jit(lambda v: head.apply(v, x, train=False))(variables)
    assert logits.shape == (4, 20) and logits.dtype == jnp.float32
    # Unit bottleneck times unit-norm columns: logits are cosines.
    z = np.asarray(x, np.float64)
    for i in range(3):
        layer = variables["params"][f"dense{i}"]
        z = z @ np.asarray(layer["kernel"], np.float64) + np.asarray(layer["bias"])
        if i < 2:
            z = np.asarray(jax.nn.gelu(z, approximate=False))
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    v = np.asarray(variables["params"]["last_layer"]["kernel"], np.float64)
    np.testing.assert_allclose(logits, z @ (v / np.linalg.norm(v, axis=0)), rtol=1e-4,
                               atol=1e-5)
    assert np.all(np.abs(logits) <= 1 + 1e-5)
    # Learned gain when norm_last_layer=False; zero input gives finite values and grads.
    free = DINOHead(out_dim=20, hidden_dim=16, bottleneck_dim=8, nlayers=2, use_bn=True,
                    norm_last_layer=False)
    fv = jax.jit(lambda k: free.init(k, x, train=False))(jax.random.key(0))
    np.testing.assert_array_equal(fv["params"]["last_layer"]["scale"], 1.0)
    grads = jax.jit(jax.grad(lambda p: jnp.sum(free.apply(
        {**fv, "params": p}, jnp.zeros((4, 12)), train=False))))(fv["params"])
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


# ---------------------------------------------------------------- ViT evaluation features


@pytest.mark.slow
def test_vit_features_are_dinos_intermediate_cls_tokens_and_avgpool():
    """`cls_last4` = the CLS tokens of the last 4 blocks, each through the final LayerNorm
    (DINO's `get_intermediate_layers`); a ViT truncated to k blocks with the same weights
    gives the k-th of them as its own CLS feature. `cls_avgpool` interleaves the CLS token
    and the mean patch token as DINO's `cat(..., -1).reshape` does."""
    vit = functools.partial(models.ViT, dim=16, num_heads=2, patch_size=8)
    x = jax.random.uniform(jax.random.key(1), (3, 16, 16, 3))
    variables = vit(depth=4).init(jax.random.key(0), x, train=False)
    last4 = vit(depth=4, features="cls_last4").apply(variables, x, train=False)
    assert last4.shape == (3, 64) and vit(depth=4, features="cls_last4").feature_dim == 64
    for k in range(1, 5):
        params = {n: p for n, p in variables["params"].items()
                  if not n.startswith("block") or int(n[5:]) < k}
        cls_k = vit(depth=k).apply({"params": params}, x, train=False)
        np.testing.assert_allclose(last4[:, 16 * (k - 1):16 * k], cls_k, rtol=1e-5, atol=1e-6)
    pooled, inter = vit(depth=4, features="cls_avgpool").apply(
        variables, x, train=False, capture_intermediates=True)
    tokens = inter["intermediates"]["norm"]["__call__"][0]  # [N, 1 + patches, D]
    assert pooled.shape == (3, 32)
    np.testing.assert_allclose(pooled[:, 0::2], tokens[:, 0], rtol=1e-6)
    np.testing.assert_allclose(pooled[:, 1::2], tokens[:, 1:].mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(pooled[:, 0::2], last4[:, 48:], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="needs 4 blocks"):
        vit(depth=2, features="cls_last4").init(jax.random.key(0), x, train=False)
    with pytest.raises(ValueError, match="must be one of cls, cls_last4, cls_avgpool"):
        vit(depth=2, features="patch").init(jax.random.key(0), x, train=False)


@pytest.mark.parametrize("name, kwargs", [
    ("small_cnn", {"channels": (8, 16), "strides": (2, 2)}),
    pytest.param("resnet18", {"stem": "cifar"}, marks=pytest.mark.slow),
])
def test_patch_grid_features_are_the_mean_of_each_patch_s_features(name, kwargs):
    """`patch_px`/`patch_stride`: the same parameters applied to every patch of the grid
    (CPC's evaluation), averaged per image."""
    x = np.random.default_rng(0).random((3, 16, 16, 1)).astype(np.float32)
    whole = models.get_encoder(name, **kwargs)
    v = whole.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)), train=False)
    gridded = models.get_encoder(name, patch_px=8, patch_stride=4, **kwargs)
    got = np.asarray(gridded.apply(v, jnp.asarray(x), train=False))
    patches = [x[:, i:i + 8, j:j + 8] for i in (0, 4, 8) for j in (0, 4, 8)]
    want = np.mean([np.asarray(whole.apply(v, jnp.asarray(p), train=False)) for p in patches],
                   axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="does not fit 16 px"):
        models.get_encoder(name, patch_px=8, patch_stride=5, **kwargs).apply(
            v, jnp.asarray(x), train=False)


def test_layer_scale_gains_multiply_each_branch_and_keep_timm_names():
    """LayerScale (DINOv2's 1e-5): `ls1`/`ls2` gains on the attention and MLP branches — at
    gamma = 0 a block is the identity, at gamma = 1 the block without LayerScale; the gains
    export as timm's `blocks.i.ls1.gamma`."""
    from ssljax import torch_layout  # noqa: PLC0415
    from ssljax.models.vit import EncoderBlock  # noqa: PLC0415

    t = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 32)), jnp.float32)
    block = EncoderBlock(num_heads=2, layer_scale=1e-5)
    v = block.init(jax.random.PRNGKey(0), t, train=False)
    np.testing.assert_array_equal(v["params"]["ls2"]["gamma"], np.full(32, 1e-5, np.float32))

    def with_gamma(value):
        return jax.tree_util.tree_map_with_path(
            lambda p, a: jnp.full_like(a, value) if "gamma" in jax.tree_util.keystr(p) else a, v)

    np.testing.assert_array_equal(block.apply(with_gamma(0.0), t, train=False), t)
    plain = {"params": {k: a for k, a in v["params"].items() if k not in ("ls1", "ls2")}}
    np.testing.assert_allclose(block.apply(with_gamma(1.0), t, train=False),
                               EncoderBlock(num_heads=2).apply(plain, t, train=False),
                               rtol=1e-6, atol=1e-6)
    vit = models.get_encoder("vit_test", img_size=32, layer_scale=1e-5)
    state = torch_layout.to_torch(vit.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)),
                                           train=False))
    assert "blocks.0.ls1.gamma" in state and "blocks.1.ls2.gamma" in state


def test_block_drop_rates_linear_or_uniform():
    from ssljax.models.vit import block_drop_rates  # noqa: PLC0415

    assert block_drop_rates(0.3, 4) == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert block_drop_rates(0.3, 4, uniform=True) == [0.3] * 4
