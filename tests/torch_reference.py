"""The references of the conversion tests: torchvision's ResNet and timm's ViT.

Where torchvision and timm import (`bash scripts/check_torch_libraries.sh` builds such a
venv), `resnet` and `vit` return their real models. The test extras cannot install them:
torchvision's and timm's wheels on this machine's package index are built against the CUDA
torch (torchvision's `_C.so` needs `libtorch_cuda.so`, and timm imports torchvision), so
the CPU-only torch build cannot import them. Then these functions return re-creations
written from torchvision/models/resnet.py (ResNet v1.5: `BasicBlock`, `Bottleneck`,
`_make_layer`) and timm/models/vision_transformer.py (`PatchEmbed`, `Attention`, `Block`,
`VisionTransformer` with a class token), with the same module names, so `state_dict()` has
the same keys, shapes and forward computation (torch's own conv, batch norm, softmax
attention and GELU). `LIBRARY` says which of the two is in use.

Either way `model(x)` returns the pre-logit features (a ResNet's pooled last stage, a
ViT's final-norm CLS token) while `state_dict()` keeps the ResNet's `fc` classifier.
"""

from __future__ import annotations

import importlib.util

import torch
from torch import nn

REAL = all(importlib.util.find_spec(m) is not None for m in ("torchvision", "timm"))
LIBRARY = "torchvision/timm" if REAL else "torch re-creations of torchvision/timm"


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(inplanes, planes, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # v1.5 stride
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(inplanes, planes * 4, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


def _downsample(inplanes: int, out: int, stride: int):
    if stride == 1 and inplanes == out:
        return None
    return nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))


class ResNet(nn.Module):
    """torchvision.models.ResNet; `forward` returns the pooled features (fc not applied)."""

    def __init__(self, block, layers, num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            blocks = []
            for j in range(n):
                blocks.append(block(self.inplanes, planes, 2 if i and not j else 1))
                self.inplanes = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def _pre_logits(model: nn.Module, head: str) -> nn.Module:
    """`model(x)` runs the library's own forward with the classifier `head` ("fc", "head")
    swapped for an identity; the classifier stays in `state_dict()`, as in a published
    checkpoint."""
    forward = type(model).forward

    def features(x):
        classifier = getattr(model, head)
        setattr(model, head, nn.Identity())
        try:
            return forward(model, x)
        finally:
            setattr(model, head, classifier)

    model.forward = features
    return model


def resnet(depth: int) -> nn.Module:
    """torchvision's resnet18 / resnet34 / resnet50 (random weights)."""
    if REAL:
        import torchvision  # noqa: PLC0415

        return _pre_logits(getattr(torchvision.models, f"resnet{depth}")(), "fc")
    return {18: lambda: ResNet(BasicBlock, (2, 2, 2, 2)),
            34: lambda: ResNet(BasicBlock, (3, 4, 6, 3)),
            50: lambda: ResNet(Bottleneck, (3, 4, 6, 3))}[depth]()


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """timm's VisionTransformer (class token, learned position embedding); `forward`
    returns the final-norm CLS token, `num_classes=0`'s output."""

    def __init__(self, dim: int, depth: int, heads: int, patch: int = 16, img_size: int = 224,
                 num_classes: int = 1000):
        super().__init__()
        self.patch_embed = PatchEmbed(patch, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + (img_size // patch) ** 2, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes) if num_classes else nn.Identity()

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], 1) + self.pos_embed
        return self.norm(self.blocks(x))[:, 0]


VIT_SIZES = {"vit_test": (32, 2, 2), "vit_tiny": (192, 12, 3), "vit_small": (384, 12, 6),
             "vit_base": (768, 12, 12), "vit_large": (1024, 24, 16), "vit_huge": (1280, 32, 16)}


def vit(name: str, patch: int = 16, img_size: int = 224) -> nn.Module:
    """timm's `vit_<size>_patch<p>_<img_size>` (random weights, 1000-way head)."""
    dim, depth, heads = VIT_SIZES[name]
    if REAL:
        from timm.models.vision_transformer import VisionTransformer as Timm  # noqa: PLC0415

        return _pre_logits(Timm(img_size=img_size, patch_size=patch, embed_dim=dim,
                                depth=depth, num_heads=heads), "head")
    return VisionTransformer(dim, depth, heads, patch, img_size)


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial random weights: BatchNorm affine and running statistics and LayerNorm
    affine drawn away from their identity init; eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            elif isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, nn.Linear | nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.02)
    return model.eval()
