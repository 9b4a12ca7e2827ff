"""PyTorch checkpoints → ssljax encoders (`ssljax.convert`) and back, and `load_encoder`.

References: `tests/torch_reference.py`: torchvision's ResNet and timm's ViT where they import
(`bash scripts/check_torch_libraries.sh`), else torch re-creations of them with their
state-dict keys, run by torch itself (eval mode). Random weights with
non-trivial BatchNorm statistics and LayerNorm affines; features compared at 1e-4 of their
largest magnitude.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the conversion tests need the torch extra "
                            "(pip install -e '.[test]' installs it)")

from safetensors.numpy import save_file  # noqa: E402

from ssljax import convert, encoder_io, models, pretrained, torch_layout  # noqa: E402
from ssljax.errors import CheckpointError, ConfigError  # noqa: E402
from tests import torch_reference as ref  # noqa: E402
from tests.program_utils import load_config  # noqa: E402

MEAN, STD = np.array(convert.IMAGENET_MEAN), np.array(convert.IMAGENET_STD)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)  # the reference models' default init draws from torch's global RNG


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _torch_input(images: np.ndarray) -> torch.Tensor:
    x = ((images.astype(np.float32) / 255.0) - MEAN) / STD
    return torch.from_numpy(x.astype(np.float32).transpose(0, 3, 1, 2))


def _torch_features(model, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(_torch_input(images)).numpy()


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _state(model) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _save(state: dict, path: Path, wrap=lambda s: s) -> Path:
    if path.suffix == ".safetensors":
        save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path))
    else:
        torch.save(wrap({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}), path)
    return path


def _dino_teacher(s):
    return {"teacher": {**{f"backbone.{k}": v for k, v in s.items()},
                        "head.mlp.0.weight": torch.zeros(8, 4)}, "epoch": 100}


def _mocov3(s):
    base = {f"module.base_encoder.{k}": v for k, v in s.items()}
    other = {f"module.momentum_encoder.{k}": v for k, v in s.items()}
    return {"state_dict": {**base, **other, "module.predictor.0.weight": torch.zeros(4, 4)},
            "epoch": 300, "arch": "resnet50"}


def _mae(s):
    s = {k: v for k, v in s.items() if not k.startswith("head.")}  # no classifier in MAE's
    return {"model": {**s, "mask_token": torch.zeros(1, 1, 768),
                      "decoder_embed.weight": torch.zeros(512, 768)}}


# (layout, torch model, file suffix, wrapper, input side)
CASES = {
    "torchvision:resnet18": (lambda: ref.resnet(18), ".pth", None, 64),
    "torchvision:resnet34": (lambda: ref.resnet(34), ".safetensors", None, 64),
    "torchvision:resnet50": (lambda: ref.resnet(50), ".safetensors", None, 64),
    "dino:resnet50": (lambda: ref.resnet(50), ".pth", _dino_teacher, 64),
    "mocov3:resnet50": (lambda: ref.resnet(50), ".pth", _mocov3, 64),
    "timm:vit_small_patch16_224": (lambda: ref.vit("vit_small"), ".safetensors", None, 224),
    "dino:vit_small_patch8": (lambda: ref.vit("vit_small", 8), ".pth", _dino_teacher, 224),
    "mae:vit_base_patch16": (lambda: ref.vit("vit_base"), ".pth", _mae, 224),
    "mocov3:vit_small": (lambda: ref.vit("vit_small"), ".pth", _mocov3, 224),
}


# The fast tier converts one ResNet and one ViT layout; the rest are slow (3-10 s each).
FAST_LAYOUTS = ("torchvision:resnet34", "mocov3:vit_small")


@pytest.mark.parametrize("layout", [
    k if k in FAST_LAYOUTS else pytest.param(k, marks=pytest.mark.slow) for k in CASES])
def test_converted_features_equal_pytorch(layout, tmp_path):
    make, suffix, wrap, size = CASES[layout]
    model = ref.randomize(make())
    ckpt = _save(_state(model), tmp_path / f"model{suffix}", wrap or (lambda s: s))
    out = convert.convert(layout, ckpt, tmp_path / "converted")
    enc = pretrained.load_encoder(out)
    assert enc.spec["converted_from"]["layout"] == layout
    assert enc.view.mean == convert.IMAGENET_MEAN and enc.view.out_size == 224
    images = _images(2, size)
    x = np.asarray(_torch_input(images)).transpose(0, 2, 3, 1)
    ours = np.asarray(enc.apply(x))
    theirs = _torch_features(model, images)
    assert ours.shape == theirs.shape == (2, enc.feature_dim)
    rel = _relative(ours, theirs)
    print(f"{layout} vs {ref.LIBRARY}: max |ssljax - torch| / max |torch| = {rel:.2e}")
    assert rel < 1e-4


@pytest.mark.slow
def test_embed_applies_the_imagenet_view(tmp_path):
    """uint8 images of another size are resized to 224 and ImageNet-normalised."""
    model = ref.randomize(ref.resnet(18), seed=1)
    ckpt = _save(_state(model), tmp_path / "r18.pth")
    enc = pretrained.load_encoder(convert.convert("torchvision:resnet18", ckpt, tmp_path / "c"))
    images = _images(3, 224, seed=2)
    got = enc.embed(images, batch_size=2)  # two batches, the last one padded
    assert _relative(got, _torch_features(model, images)) < 1e-4
    np.testing.assert_allclose(enc.embed(images.astype(np.float32) / 255.0), got,
                               rtol=1e-5, atol=1e-5)
    small = _images(2, 112, seed=3)
    resized = jax.image.resize(small.astype(np.float32) / 255.0, (2, 224, 224, 3), "bilinear")
    np.testing.assert_allclose(enc.embed(small), enc.embed(np.clip(np.asarray(resized), 0, 1)),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_load_encoder_embed_equals_linear_eval_features(pretrained, tmp_path):
    import ssljax  # noqa: PLC0415
    from ssljax import data, supervised  # noqa: PLC0415
    from ssljax.evaluate import features  # noqa: PLC0415

    config = load_config("configs/linear_eval_mnist.py")
    config.init_from = str(pretrained)
    s = supervised.setup(config, str(tmp_path / "le"), "linear_eval", allow_scratch=False)
    forward = features.make_forward(s.encoder, s.source.view)
    want = features.split_outputs(forward, {"encoder": s.encoder_vars}, s.dataset, "test",
                                  s.mesh, max_examples=96)["features"]
    images = np.concatenate([b["image"][b["mask"].astype(bool)] for b in
                             data.make_eval_iterator(s.dataset, "test", 32, max_examples=96)])
    for path in (pretrained, pretrained / "encoder"):
        enc = ssljax.load_encoder(path)
        assert enc.spec["method"] == "simclr" and enc.feature_dim == want.shape[1]
        np.testing.assert_allclose(enc.embed(images, batch_size=40), want, rtol=1e-5, atol=1e-5)


def _ssljax_encoder(tmp_path: Path, block: dict, size: int) -> Path:
    """An ssljax-initialised encoder (random BN statistics) exported like a pretrain run."""
    module = models.encoder_from_block(block)
    v = module.init(jax.random.PRNGKey(3), np.zeros((1, size, size, 3), np.float32), train=False)
    rng = np.random.default_rng(0)
    stats = jax.tree.map(lambda a: rng.uniform(0.5, 1.5, a.shape).astype(np.float32),
                         v.get("batch_stats", {}))
    params = jax.tree.map(lambda a: a + rng.normal(0, 0.05, a.shape).astype(np.float32),
                          v["params"])
    spec = {"method": "simclr", "step": 1, "network": "online", "encoder": block,
            "input_shape": [size, size, 3],
            "eval_view": {"out_size": size, "channels": 3, "mean": None, "std": None}}
    encoder_io.export_encoder(tmp_path / "wd", params, stats, spec)
    return tmp_path / "wd"


@pytest.mark.parametrize("block,model,size", [
    pytest.param({"name": "resnet18"}, lambda: ref.resnet(18), 64, marks=pytest.mark.slow),
    ({"name": "vit_test", "img_size": 32}, lambda: ref.vit("vit_test", 8, 32), 32),
])
def test_export_loads_into_pytorch_with_equal_outputs(block, model, size, tmp_path):
    wd = _ssljax_encoder(tmp_path, block, size)
    f = convert.export_safetensors(wd, tmp_path / "enc.safetensors")
    from safetensors.torch import load_file  # noqa: PLC0415

    m = model()
    if hasattr(m, "fc"):
        m.fc = torch.nn.Identity()
    else:
        m.head = torch.nn.Identity()
    m.load_state_dict(load_file(str(f)), strict=True)
    m.eval()
    images = np.random.default_rng(1).uniform(0, 1, (2, size, size, 3)).astype(np.float32)
    ours = np.asarray(pretrained.load_encoder(wd).apply(images))
    with torch.no_grad():
        theirs = m(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
    rel = _relative(ours, theirs)
    print(f"export {block['name']} -> {ref.LIBRARY}: max |ssljax - torch| / max |torch| = "
          f"{rel:.2e}")
    assert rel < 1e-4
    with pytest.raises(ConfigError, match="exists"):
        convert.export_safetensors(wd, f)


def test_torch_names_round_trip():
    """to_torch ∘ from_torch is the identity on ssljax variables (fused qkv included)."""
    module = models.get_encoder("vit_test", img_size=32)
    v = module.init(jax.random.PRNGKey(0), np.zeros((1, 32, 32, 3), np.float32), train=False)
    state = torch_layout.to_torch(v)
    assert state["blocks.1.attn.qkv.weight"].shape == (96, 32)
    back = torch_layout.from_torch(state, torch_layout.torch_table(v))
    jax.tree.map(np.testing.assert_array_equal, back["params"], jax.device_get(v["params"]))


def _r18_file(tmp_path, edit=lambda s: s, suffix=".pth") -> Path:
    return _save(edit(_state(ref.resnet(18))), tmp_path / f"bad{suffix}")


@pytest.mark.parametrize("case,match", [
    ("unknown_layout", "not a known layout; use one of: torchvision:resnet18"),
    ("missing_key", "missing key 'layer4.1.bn2.bias'"),
    ("unexpected_key", "unexpected key 'extra.weight'"),
    ("wrong_depth", "missing key 'layer1.2.bn1.bias' \\(and 79 more\\) for the "
                    "torchvision:resnet34"),
    ("wrong_size", "key 'blocks.0.attn.qkv.bias' has shape \\(1152,\\), the "
                   "timm:vit_base_patch16_224 layout expects \\(2304,\\)"),
    ("damaged", "is not a readable torch checkpoint"),
    ("not_a_state_dict", "holds no state dict of tensors \\(found: epoch\\)"),
    ("no_file", "does not exist"),
    ("suffix", "unknown file type '.npz'"),
])
def test_bad_checkpoints_are_one_line_and_write_nothing(case, match, tmp_path):
    layout = "torchvision:resnet18"
    if case == "unknown_layout":
        ckpt, layout = _r18_file(tmp_path), "torchvision:resnet19"
    elif case == "missing_key":
        ckpt = _r18_file(tmp_path, lambda s: {k: v for k, v in s.items()
                                              if k != "layer4.1.bn2.bias"})
    elif case == "unexpected_key":
        ckpt = _r18_file(tmp_path, lambda s: {**s, "extra.weight": np.zeros(3, np.float32)},
                         ".safetensors")
    elif case == "wrong_depth":
        ckpt, layout = _r18_file(tmp_path), "torchvision:resnet34"
    elif case == "wrong_size":
        ckpt = _save(_state(ref.vit("vit_small")), tmp_path / "s.safetensors")
        layout = "timm:vit_base_patch16_224"
    elif case == "damaged":
        ckpt = tmp_path / "x.pth"
        ckpt.write_bytes(b"not a zip file" * 10)
    elif case == "not_a_state_dict":
        ckpt = tmp_path / "x.pth"
        torch.save({"epoch": 3}, ckpt)
    elif case == "no_file":
        ckpt = tmp_path / "missing.pth"
    else:
        ckpt = tmp_path / "x.npz"
        ckpt.write_bytes(b"")
    out = tmp_path / "out"
    with pytest.raises((CheckpointError, ConfigError), match=match) as e:
        convert.convert(layout, ckpt, out)
    assert "\n" not in str(e.value)
    assert not out.exists()


def test_cli_one_line_errors_and_existing_out_is_kept(tmp_path, capsys):
    ckpt = _r18_file(tmp_path)
    out = tmp_path / "out"
    assert convert.main(["--from=torchvision:resnet18", f"--checkpoint={ckpt}",
                         f"--out={out}"]) == 0
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*"))
    assert convert.main(["--from=torchvision:resnet18", f"--checkpoint={ckpt}",
                         f"--out={out}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ssljax: error: --out=") and "already holds an encoder" in err
    assert "\n" not in err
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*")) == before
    assert convert.main(["--from=torchvision:resnet18", f"--out={out}2"]) == 2
    assert "pass --from=LAYOUT --checkpoint=FILE" in capsys.readouterr().err
