"""Augmentation presets with the papers' numbers, a registry of them, and multi-crop.

Each preset function returns the `ViewSpec`s of a recipe (`simclr_views`, `byol_views`,
`mocov2_views`, `dino_views`, `digits_views`, `fashion_views`). The registry `PRESETS`
maps the names a config uses (`augment.preset`) to a `Preset`, and `make_views` builds a
method's views from one: the preset's two global views (with an optional crop-scale
override) followed by `num_local` smaller local crops (multi-crop, as DINO and SwAV use).
Add a preset with
`PRESETS.register("name", Preset(views=fn, local=..., options=(...)))`.

References:
    SimCLR: Chen et al., ICML 2020, Appendix A. BYOL: Grill et al., NeurIPS 2020, Table 6.
    MoCo v2: Chen et al., arXiv:2003.04297. DINO: Caron et al., ICCV 2021 (multi-crop:
    Caron et al., "Unsupervised Learning of Visual Features by Contrasting Cluster
    Assignments" (SwAV), NeurIPS 2020).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from ssljax.augment import views
from ssljax.augment.views import ViewSpec
from ssljax.registry import Registry

# Crop-area range of local crops for presets without their own (DINO's (0.05, 0.4)).
LOCAL_CROP_SCALE = (0.05, 0.4)


def simclr_views(
    image_size: int,
    *,
    strength: float = 1.0,
    blur: bool = True,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec, ViewSpec]:
    """SimCLR's two (identical) views.

    Random resized crop, scale (0.08, 1), ratio (3/4, 4/3); flip 0.5; colour jitter with
    brightness, contrast, saturation 0.8 s and hue 0.2 s applied with p 0.8; grayscale
    0.2; Gaussian blur p 0.5, sigma in [0.1, 2], kernel 10% of the side (the paper drops
    blur for CIFAR-10 and uses s = 0.5 there: `blur=False, strength=0.5`).

    Reference:
        Chen et al., "A Simple Framework for Contrastive Learning of Visual
        Representations", ICML 2020, Appendix A and B.9.
    """
    s = float(strength)
    spec = views.ViewSpec(
        out_size=image_size, crop_scale=(0.08, 1.0), flip_p=0.5,
        brightness=0.8 * s, contrast=0.8 * s, saturation=0.8 * s, hue=min(0.5, 0.2 * s),
        jitter_p=0.8, gray_p=0.2, blur_p=0.5 if blur else 0.0, blur_sigma=(0.1, 2.0),
        mean=opt_tuple(mean), std=opt_tuple(std),
    )
    return spec, spec


def byol_views(
    image_size: int,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec, ViewSpec]:
    """BYOL's asymmetric pair of views.

    Both: random resized crop scale (0.08, 1); flip 0.5; colour jitter brightness 0.4,
    contrast 0.4, saturation 0.2, hue 0.1 with p 0.8; grayscale 0.2. Blur (sigma in
    [0.1, 2]) with p 1.0 / 0.1 and solarize with p 0.0 / 0.2 for the first / second view.

    Reference:
        Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, Table 6.
    """
    common = dict(
        out_size=image_size, crop_scale=(0.08, 1.0), flip_p=0.5, brightness=0.4,
        contrast=0.4, saturation=0.2, hue=0.1, jitter_p=0.8, gray_p=0.2,
        blur_sigma=(0.1, 2.0), mean=opt_tuple(mean), std=opt_tuple(std),
    )
    return (views.ViewSpec(blur_p=1.0, solarize_p=0.0, **common),
            views.ViewSpec(blur_p=0.1, solarize_p=0.2, **common))


def mocov2_views(
    image_size: int,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec, ViewSpec]:
    """MoCo v2's two (identical) views.

    Random resized crop scale (0.2, 1); colour jitter 0.4, 0.4, 0.4, 0.1 with p 0.8;
    grayscale 0.2; Gaussian blur sigma in [0.1, 2] with p 0.5; flip 0.5.

    Reference:
        Chen et al., "Improved Baselines with Momentum Contrastive Learning", 2020
        (arXiv:2003.04297), and its reference code `main_moco.py --aug-plus`.
    """
    spec = views.ViewSpec(
        out_size=image_size, crop_scale=(0.2, 1.0), flip_p=0.5, brightness=0.4,
        contrast=0.4, saturation=0.4, hue=0.1, jitter_p=0.8, gray_p=0.2, blur_p=0.5,
        blur_sigma=(0.1, 2.0), mean=opt_tuple(mean), std=opt_tuple(std),
    )
    return spec, spec


def dino_views(
    global_size: int = 224,
    local_size: int = 96,
    num_local: int = 6,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec, ...]:
    """DINO multi-crop: 2 global views, then `num_local` local views.

    All: flip 0.5; colour jitter 0.4, 0.4, 0.2, 0.1 with p 0.8; grayscale 0.2. Global
    views: crop scale (0.4, 1) at `global_size`; the first blurred with p 1.0, the second
    with p 0.1 and solarized with p 0.2 (BYOL's asymmetry). Local views: crop scale
    (0.05, 0.4) at `local_size`, blur p 0.5. Blur sigma in [0.1, 2].

    Reference:
        Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV
        2021, and its reference code `DataAugmentationDINO`.
    """
    if int(num_local) < 0:
        raise ValueError(f"num_local must be >= 0, got {num_local}.")
    common = dict(
        flip_p=0.5, brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, jitter_p=0.8,
        gray_p=0.2, blur_sigma=(0.1, 2.0), mean=opt_tuple(mean), std=opt_tuple(std),
    )
    global1 = views.ViewSpec(out_size=global_size, crop_scale=(0.4, 1.0), blur_p=1.0, **common)
    global2 = views.ViewSpec(out_size=global_size, crop_scale=(0.4, 1.0), blur_p=0.1,
                       solarize_p=0.2, **common)
    local = views.ViewSpec(out_size=local_size, crop_scale=(0.05, 0.4), blur_p=0.5, **common)
    return (global1, global2) + (local,) * int(num_local)


def digits_views(
    image_size: int = 28,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec, ViewSpec]:
    """Two identical views for small grayscale digits (the bundled MNIST demo).

    SimCLR's recipe adapted to 28x28 single-channel digits: random resized crop with scale
    (0.3, 1) (smaller crops often cut the stroke that tells a 7 from a 1) and ratio
    (0.8, 1.25) (digits are upright and roughly square); NO flip (digits are not mirror
    symmetric: a flipped 2 or 5 is not a digit); brightness and contrast jitter 0.4 with p
    0.8 (saturation, hue and grayscale do nothing on one channel); light Gaussian blur,
    sigma in [0.1, 1] with p 0.5 (3 taps at 28 px).

    Reference:
        Chen et al., "A Simple Framework for Contrastive Learning of Visual
        Representations", ICML 2020, Appendix A (the recipe adapted here).
    """
    spec = views.ViewSpec(
        out_size=image_size, crop_scale=(0.3, 1.0), crop_ratio=(0.8, 1.25), flip_p=0.0,
        brightness=0.4, contrast=0.4, jitter_p=0.8, blur_p=0.5, blur_sigma=(0.1, 1.0),
        mean=opt_tuple(mean), std=opt_tuple(std),
    )
    return spec, spec


def opt_tuple(x: Sequence[float] | float | None) -> tuple[float, ...] | None:
    return None if x is None else tuple(float(v) for v in views._as_tuple(x))


def fashion_views(
    image_size: int = 28,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec, ViewSpec]:
    """Two identical views for 28x28 grayscale clothing photographs (Fashion-MNIST).

    The digits recipe with horizontal flips (p 0.5: garments, shoes and bags are left-right
    symmetric, unlike digits) and SimCLR's crop range for a grayscale set: random resized
    crop scale (0.2, 1), ratio (3/4, 4/3); brightness and contrast jitter 0.4 with p 0.8;
    Gaussian blur sigma in [0.1, 1] with p 0.5.

    Reference:
        Chen et al., SimCLR, ICML 2020, Appendix A (the recipe adapted here); Xiao et al.,
        "Fashion-MNIST", arXiv:1708.07747.
    """
    spec = views.ViewSpec(
        out_size=image_size, crop_scale=(0.2, 1.0), crop_ratio=(3 / 4, 4 / 3), flip_p=0.5,
        brightness=0.4, contrast=0.4, jitter_p=0.8, blur_p=0.5, blur_sigma=(0.1, 1.0),
        mean=opt_tuple(mean), std=opt_tuple(std),
    )
    return spec, spec


def crop_flip_views(
    image_size: int = 32,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec]:
    """One lightly augmented view: the supervised CIFAR recipe of the pretext-task papers.

    RotNet's CIFAR-10 code (like most supervised CIFAR code) pads by 4 pixels, takes a
    random 32x32 crop and flips horizontally with p 0.5; here a random resized crop of scale
    (0.64, 1) and ratio (3/4, 4/3) (about the same range of shifts, as a resized crop) and
    the flip. No colour jitter: the pretext task is the only learning signal.

    Reference:
        Gidaris et al., RotNet, ICLR 2018 (gidariss/FeatureLearningRotNet, `dataloader.py`:
        `RandomCrop(32, padding=4)`, `RandomHorizontalFlip()`).
    """
    return (views.ViewSpec(out_size=image_size, crop_scale=(0.64, 1.0), flip_p=0.5,
                           mean=opt_tuple(mean), std=opt_tuple(std)),)


def crop_views(
    image_size: int = 28,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec]:
    """One random resized crop (scale (0.2, 1), ratio (3/4, 4/3)) and nothing else.

    MAE's pretraining augmentation (`RandomResizedCrop(scale=(0.2, 1.0))` + flip) without
    the flip, for images that are not mirror-symmetric (digits).

    Reference: He et al., MAE, CVPR 2022 (facebookresearch/mae `main_pretrain.py`).
    """
    return (views.ViewSpec(out_size=image_size, crop_scale=(0.2, 1.0), flip_p=0.0,
                           mean=opt_tuple(mean), std=opt_tuple(std)),)


def _dino_local(size: int, mean=None, std=None) -> ViewSpec:
    return dino_views(size, size, 1, mean=mean, std=std)[2]


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named recipe for the registry.

    Attributes:
        views: `(image_size, *, mean, std, **options) -> ViewSpec`s of the global views.
        local: `(local_size, *, mean, std) -> ViewSpec` of a local crop, or None for the
            first global view at the local size with `LOCAL_CROP_SCALE`.
        options: the `augment` config keys the preset reads besides the common ones.
    """

    views: Callable[..., tuple[ViewSpec, ...]]
    local: Callable[..., ViewSpec] | None = None
    options: tuple[str, ...] = ()


PRESETS: Registry[Preset] = Registry("augmentation preset", key="augment.preset")
PRESETS.register("simclr", Preset(simclr_views, options=("strength", "blur")))
PRESETS.register("byol", Preset(byol_views))
PRESETS.register("mocov2", Preset(mocov2_views))
PRESETS.register("dino", Preset(lambda size, **kw: dino_views(size, size, 0, **kw),
                                local=_dino_local))
PRESETS.register("digits", Preset(digits_views))
PRESETS.register("fashion", Preset(fashion_views))
PRESETS.register("crop_flip", Preset(crop_flip_views))
PRESETS.register("crop", Preset(crop_views))


def default_local_size(image_size: int) -> int:
    """DINO's local/global side ratio 96/224 at `image_size`, at least 8 pixels."""
    return max(8, (image_size * 96) // 224)


def make_views(
    preset: str,
    image_size: int,
    *,
    options: dict | None = None,
    crop_scale: Sequence[float] | None = None,
    num_local: int = 0,
    local_size: int = 0,
    local_crop_scale: Sequence[float] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec, ...]:
    """The views of a preset: its global views, then `num_local` local crops.

    Args:
        preset: a name in `PRESETS`.
        image_size: side of the global views.
        options: the preset's own options (e.g. SimCLR's `strength`, `blur`).
        crop_scale: replaces the global views' crop-area range (None/empty: the preset's).
        num_local: number of local crops (0: none).
        local_size: their side (0: `default_local_size(image_size)`).
        local_crop_scale: replaces the local crops' area range (None/empty: the preset's).
        mean, std: per-channel normalisation of every view (None: none).

    Returns:
        `ViewSpec`s, global views first.

    Raises:
        ConfigError: unknown preset. ValueError: bad values.
    """
    entry = PRESETS.lookup(preset)
    norm = {"mean": opt_tuple(mean or None), "std": opt_tuple(std or None)}
    specs = tuple(entry.views(image_size, **norm, **(options or {})))
    if crop_scale:
        specs = tuple(dataclasses.replace(s, crop_scale=tuple(crop_scale)) for s in specs)
    if int(num_local) < 0:
        raise ValueError(f"num_local must be >= 0, got {num_local}.")
    if num_local:
        size = int(local_size) or default_local_size(image_size)
        if entry.local is not None:
            local = entry.local(size, **norm)
        else:
            local = dataclasses.replace(specs[0], out_size=size, crop_scale=LOCAL_CROP_SCALE)
        if local_crop_scale:
            local = dataclasses.replace(local, crop_scale=tuple(local_crop_scale))
        specs = specs + (local,) * int(num_local)
    return specs
