"""Batched, pure, on-device image augmentations for self-supervised learning.

Images are float NHWC arrays in [0, 1], C == 1 or 3; every random op takes one PRNG key
per call and splits it per example. The package has three layers:

- `ssljax.augment.ops`: single-image ops driven by uniforms (for your own vmapped code);
- `ssljax.augment.batched`: the batched ops (`random_resized_crop`, `color_jitter`, ...);
- `ssljax.augment.views`: `ViewSpec` pipelines keyed per example by (seed, step, view,
  global row) — `example_keys`, `augment_view`, `augment_views` — and the evaluation
  input (`EvalView`, `eval_inputs`);
- `ssljax.augment.presets`: the papers' recipes (`simclr_views`, `byol_views`,
  `mocov2_views`, `dino_views`, `digits_views`, `crop_flip_views`, `crop_views`), the `PRESETS`
  registry and multi-crop (`make_views`);
- `ssljax.augment.pretext`: the classic pretext tasks' inputs (`rotations` for RotNet,
  `corrupt` for denoising autoencoders, `patchify`);
- `ssljax.augment.masking`: token masks of masked image modelling (`random_masking`,
  `ijepa_blocks`, `ibot_masks`).

Every public name is importable from `ssljax.augment` directly. No TensorFlow.

Example:
    specs = simclr_views(32, strength=0.5, blur=False)
    keys = example_keys(jax.random.key(0), step, 0, jnp.arange(batch))
    view0 = augment_view(keys, images, specs[0])
"""

from ssljax.augment.batched import (
    color_jitter,
    gaussian_blur,
    grayscale,
    horizontal_flip,
    normalize,
    random_resized_crop,
    solarize,
)
from ssljax.augment.lab import (
    ab_bins,
    annealed_mean,
    lab_to_rgb,
    rebalance_weights,
    rgb_to_lab,
    soft_encode,
)
from ssljax.augment.masking import (
    block_mask,
    ibot_masks,
    ijepa_blocks,
    max_block_tokens,
    num_visible,
    random_masking,
)
from ssljax.augment.presets import (
    PRESETS,
    Preset,
    byol_views,
    crop_flip_views,
    crop_views,
    digits_views,
    dino_views,
    fashion_views,
    make_views,
    mocov2_views,
    simclr_views,
)
from ssljax.augment.pretext import (
    corrupt,
    drop_colors,
    fill_holes,
    patch_grid,
    patchify,
    permutation_set,
    region_masks,
    rotations,
    standardize_tiles,
    tile_grid,
    unpatchify,
)
from ssljax.augment.views import (
    EvalView,
    ViewSpec,
    augment_view,
    augment_views,
    eval_inputs,
    example_keys,
    match_channels,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

__all__ = [
    "ab_bins",
    "annealed_mean",
    "lab_to_rgb",
    "rebalance_weights",
    "rgb_to_lab",
    "soft_encode",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRESETS",
    "EvalView",
    "Preset",
    "ViewSpec",
    "augment_view",
    "augment_views",
    "block_mask",
    "byol_views",
    "color_jitter",
    "corrupt",
    "crop_flip_views",
    "crop_views",
    "digits_views",
    "drop_colors",
    "dino_views",
    "eval_inputs",
    "fashion_views",
    "example_keys",
    "fill_holes",
    "gaussian_blur",
    "grayscale",
    "horizontal_flip",
    "make_views",
    "match_channels",
    "mocov2_views",
    "ibot_masks",
    "ijepa_blocks",
    "max_block_tokens",
    "normalize",
    "num_visible",
    "patch_grid",
    "patchify",
    "permutation_set",
    "random_masking",
    "random_resized_crop",
    "region_masks",
    "rotations",
    "simclr_views",
    "solarize",
    "standardize_tiles",
    "tile_grid",
    "unpatchify",
]
