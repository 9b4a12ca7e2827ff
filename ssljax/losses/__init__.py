"""Self-supervised losses as pure JAX functions.

Every loss here is a pure function of arrays: no state, no randomness, safe under `jax.jit`,
`jax.vmap` and `jax.grad`. Inputs of any float dtype (bfloat16 included) are upcast to float32
at entry, the result is a float32 scalar, and finite inputs (zero vectors included) give a
finite value and finite gradients: vectors are normalized with an epsilon under the norm and
standard deviations carry an epsilon under the square root.

Multi-device use. A loss with an `axis_name` argument may be called inside
`jax.shard_map` (with the default `check_vma=True`) over that mesh axis, each device passing
its *local* rows, with the rows of device `d` being rows `[d*n, (d+1)*n)` of the global batch
(the layout of `NamedSharding(mesh, P(axis_name))`). It then returns the loss of the *global*
batch, the same on every device, and `jax.grad` of it with respect to a device's local inputs
equals those rows of the single-device gradient of the global-batch loss. Negatives are
gathered with `lax.all_gather(..., tiled=True)`, whose transpose (a reduce-scatter) routes
gradients back to the device that owns the rows; batch statistics use `lax.psum`.

Gradient stopping follows the papers' pseudo-code only where the loss itself defines it
(DINO's teacher targets). Elsewhere (MoCo keys and queue, BYOL/SimSiam targets) the caller
applies `jax.lax.stop_gradient`, which keeps these functions usable for symmetric variants.

Matrix products use `lax.Precision.HIGHEST`, so results do not depend on an accelerator's
reduced-precision float32 matmul default (bfloat16 passes on TPU, TF32 on recent GPUs).

The functions live in modules by family (`contrastive`, `noncontrastive`, `clustering`,
`distillation`, `masked`, `pretext`);
`import ssljax.losses as L; L.<name>` works for every public name, and the package imports
with JAX only.
"""

from ssljax.losses._common import l2_normalize
from ssljax.losses.clustering import sinkhorn_knopp, swav
from ssljax.losses.contrastive import dcl, info_nce, moco_v3, nearest_neighbour, nt_xent, supcon
from ssljax.losses.distillation import (
    dino,
    dino_center_update,
    ibot_patch,
    koleo,
    sinkhorn_knopp_centering,
)
from ssljax.losses.masked import ijepa, mae_reconstruction
from ssljax.losses.noncontrastive import barlow_twins, byol, simsiam, vicreg
from ssljax.losses.pretext import (
    colorization_ce,
    cpc_info_nce,
    masked_reconstruction,
    pretext_ce,
)

__all__ = [
    "barlow_twins",
    "byol",
    "colorization_ce",
    "cpc_info_nce",
    "dcl",
    "dino",
    "dino_center_update",
    "ibot_patch",
    "ijepa",
    "info_nce",
    "koleo",
    "l2_normalize",
    "mae_reconstruction",
    "masked_reconstruction",
    "moco_v3",
    "nearest_neighbour",
    "nt_xent",
    "pretext_ce",
    "simsiam",
    "sinkhorn_knopp",
    "sinkhorn_knopp_centering",
    "supcon",
    "swav",
    "vicreg",
]
