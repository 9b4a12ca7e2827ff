"""A trained encoder in your own code: `ssljax.load_encoder(path)`.

    import numpy as np, ssljax
    encoder = ssljax.load_encoder("runs/demo")          # a pretrain workdir (or its encoder/,
    features = encoder.embed(images)                    # or a `python -m ssljax.convert` dir)
    encoder.spec["encoder"], encoder.feature_dim        # {"name": "small_cnn", ...}, 128

`embed` takes uint8 NHWC images (or float32 NHWC in [0, 1]) of any size and channel count,
applies the encoder's recorded input view (`encoder_spec.json`'s `eval_view`: resize to the
training side, grayscale ↔ RGB, the mean/std normalisation — ImageNet's for converted
torchvision/timm checkpoints) and returns float32 features `[N, D]` from the inference-mode
network (running BatchNorm statistics, no stochastic depth): exactly the features
`linear_eval`, `finetune` and the pretraining kNN monitor compute
(`ssljax.evaluate.features.make_forward`). Features are not L2-normalised; the kNN
evaluation normalises them itself.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ssljax import augment, encoder_io, parallel
from ssljax.errors import ConfigError
from ssljax.evaluate import features as features_lib


@dataclasses.dataclass
class Encoder:
    """A restored encoder with the way it is fed.

    Attributes:
      module: the Flax encoder (`module.apply(variables, x, train=False)` → `[N, D]`).
      variables: `{"params", "batch_stats"}` (batch_stats `{}` for a ViT).
      spec: the `encoder_spec.json` it was saved with (encoder block, input shape,
        eval view, method, step, network, and `converted_from` for imports).
      view: the `ssljax.augment.EvalView` that `embed` applies.
    """

    module: nn.Module
    variables: dict[str, Any]
    spec: dict[str, Any]
    view: augment.EvalView
    _forward: Any = dataclasses.field(default=None, repr=False)

    @property
    def feature_dim(self) -> int:
        """D, the size of the features."""
        return int(self.module.feature_dim)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the network's input after the view (e.g. (28, 28, 1))."""
        return tuple(int(v) for v in self.spec["input_shape"])

    def apply(self, x: jax.Array, train: bool = False) -> jax.Array:
        """The raw network on already-prepared float inputs `[N, H, W, C]` → `[N, D]`."""
        v = {k: val for k, val in self.variables.items() if val}
        return self.module.apply(v, x, train=train)

    def embed(self, images: Any, batch_size: int = 256) -> np.ndarray:
        """Features of images, as the evaluation programs compute them.

        Args:
          images: `[N, H, W, C]` (or one image `[H, W, C]`) uint8 in [0, 255] or float in
            [0, 1]; C = 1 or 3.
          batch_size: images per jitted call (the last batch is padded, so one
            compilation serves every call with this batch size).

        Returns:
          float32 NumPy `[N, feature_dim]`.

        Raises:
          ValueError: not NHWC, or float values outside [0, 1].
        """
        x = np.asarray(images)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise ValueError(f"embed takes NHWC images [N, H, W, C] with C = 1 or 3, got shape "
                             f"{x.shape}")
        if np.issubdtype(x.dtype, np.floating):
            lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
            if lo < -1e-3 or hi > 1 + 1e-3:
                raise ValueError(f"float images must be in [0, 1], these span [{lo:.3g}, "
                                 f"{hi:.3g}]; pass uint8 images or divide by 255")
            x = x.astype(np.float32)
        elif x.dtype != np.uint8:
            raise ValueError(f"embed takes uint8 or float images, got dtype {x.dtype}")
        if self._forward is None:
            self._forward = features_lib.make_forward(self.module, self.view)
        n, bs = len(x), max(1, min(int(batch_size), len(x) or 1))
        out = []
        for i in range(0, n, bs):
            chunk = x[i:i + bs]
            pad = bs - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
            h, _ = self._forward({"encoder": self.variables}, jnp.asarray(chunk))
            out.append(np.asarray(h)[:bs - pad])
        if not out:
            return np.zeros((0, self.feature_dim), np.float32)
        return np.concatenate(out).astype(np.float32)


def load_encoder(path: str | os.PathLike, *, dtype: str = "float32",
                 features: str | None = None) -> Encoder:
    """Restores an exported encoder.

    Args:
      path: a pretraining workdir, its `encoder/` folder, or the `--out` of
        `python -m ssljax.convert`.
      dtype: computation dtype, "float32" or "bfloat16" (parameters stay float32).
      features: a ViT's output features instead of the saved ones ("cls", "cls_last4",
        "cls_avgpool", "avgpool"; `ssljax.models.ViT`).

    Returns:
      An `Encoder` on the default device.

    Raises:
      CheckpointError: no exported encoder there, or it is damaged or does not fit its spec.
      ConfigError: a bad `dtype` or `features`.
    """
    enc_dir, spec = encoder_io.load_encoder_spec(path)
    block = {**(spec.get("encoder") or {}), "dtype": dtype}
    if features is not None:
        block["features"] = features
    module = encoder_io.build_encoder(block, None)
    if features is not None and not hasattr(module, "features"):
        raise ConfigError(f"features={features!r} applies to ViT encoders; {path} holds a "
                          f"{block.get('name')!r}")
    source = encoder_io.EncoderSource(block, enc_dir, spec, encoder_io.view_of_spec(spec))
    mesh = parallel.make_mesh(1)
    shape = tuple(int(v) for v in spec["input_shape"])
    variables = encoder_io.encoder_variables(module, source, shape, mesh, seed=0)
    return Encoder(module, variables, spec, source.view)
