"""ssljax: self-supervised visual representation learning in JAX/Flax.

The library pieces (`ssljax.losses`, `ssljax.augment`, `ssljax.optim`,
`ssljax.models`) import without TensorFlow; the programs are
`python -m ssljax.pretrain`, `python -m ssljax.linear_eval` and
`python -m ssljax.finetune`; `ssljax.load_encoder(workdir)` restores a trained
encoder for your own code and `python -m ssljax.convert` imports PyTorch checkpoints.
"""

__version__ = "0.1.0"

__all__ = ["Encoder", "load_encoder"]


def __getattr__(name: str):
    """`ssljax.load_encoder` / `ssljax.Encoder` (`ssljax.pretrained`), imported on first use."""
    if name in ("Encoder", "load_encoder"):
        from ssljax import pretrained  # noqa: PLC0415 - keeps `import ssljax` light

        return getattr(pretrained, name)
    raise AttributeError(f"module 'ssljax' has no attribute {name!r}")
