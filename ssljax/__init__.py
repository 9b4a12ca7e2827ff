"""ssljax: self-supervised visual representation learning in JAX/Flax.

The library pieces (`ssljax.losses`, `ssljax.augment`, `ssljax.optim`,
`ssljax.models`) import without TensorFlow; the programs are
`python -m ssljax.pretrain`, `python -m ssljax.linear_eval` and
`python -m ssljax.finetune`.
"""

__version__ = "0.1.0"
