"""Multi-crop: an encoder and head over crops of several resolutions (DINO, SwAV, iBOT).

The views themselves come from `config.augment` (`num_local`, `local_size`,
`local_crop_scale`: `ssljax.augment.make_views` appends the local crops to any preset's
global views). `MultiCropModel` runs consecutive crops of the same resolution through the
encoder as one batch and the head once on the features of all crops, as the reference
code's `MultiCropWrapper` does (DINO, `utils.py`; SwAV `resnet50.py` `forward`), so
BatchNorm statistics are per resolution and the head sees every crop at once.

Position embeddings of a ViT are made for the global crops (the first view, which
initialises the model) and interpolated bicubically for the local crops
(`models.interpolate_pos_embed`).

Reference: Caron et al., "Unsupervised Learning of Visual Features by Contrasting Cluster
Assignments" (SwAV), NeurIPS 2020, §3.2; Caron et al., DINO, ICCV 2021.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class MultiCropModel(nn.Module):
    """Encoder + head over crops of several resolutions.

    Called with one array `[N, H, W, C]` (initialisation, evaluation) or a sequence of
    crops; consecutive crops of the same shape go through the encoder as one batch, and
    the head runs once on the features of all crops.

    Returns a dict: `features` `[M, D]` (encoder output of all crops, in order) and
    `proj` `[M, K]` (head output), M the total number of rows; a head that returns a dict
    (SwAV's: embeddings and prototype scores) has its entries merged in instead.
    """

    encoder: nn.Module
    head: nn.Module

    @nn.compact
    def __call__(
        self, x: jax.Array | Sequence[jax.Array], train: bool = True
    ) -> dict[str, jax.Array]:
        crops = list(x) if isinstance(x, (list, tuple)) else [x]
        groups: list[list[jax.Array]] = []
        for c in crops:
            if groups and groups[-1][0].shape[1:] == c.shape[1:]:
                groups[-1].append(c)
            else:
                groups.append([c])
        feats = [self.encoder(jnp.concatenate(g, axis=0), train=train) for g in groups]
        h = jnp.concatenate(feats, axis=0).astype(jnp.float32)
        y = self.head(h, train=train)
        if isinstance(y, dict):
            return {"features": h, **{k: v.astype(jnp.float32) for k, v in y.items()}}
        return {"features": h, "proj": y.astype(jnp.float32)}


def split_crops(rows: jax.Array, n: int, count: int) -> list[jax.Array]:
    """The first `count` crops of `n` rows each from the concatenated rows `[M, ...]`."""
    return [rows[i * n:(i + 1) * n] for i in range(count)]
