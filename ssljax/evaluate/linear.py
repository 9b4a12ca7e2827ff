"""Linear classifier on frozen ("cached") features: the fast linear-evaluation protocol.

A multinomial logistic regression ``logits = standardise(x) @ W + b`` trained on
precomputed features, entirely on device. The objective is the same for every optimizer::

    L(W, b) = mean_i CE(softmax(x_i W + b), y_i) + (weight_decay / 2) * ||W||_F^2

(the bias is not decayed). This equals scikit-learn's ``LogisticRegression(C=C)``
objective divided by ``N`` when ``weight_decay = 1 / (C * N)``.

Optimizers:
    * ``"lbfgs"`` (default): full-batch L-BFGS with a zoom line search (``optax.lbfgs``);
      ``epochs`` is the maximum number of iterations, stopping early when the gradient
      norm falls below ``tol``. One jitted ``lax.while_loop``. Best for up to a few
      hundred thousand examples whose features fit in device memory at once.
    * ``"adam"`` / ``"sgd"``: mini-batch training with a cosine learning-rate decay. One
      jitted epoch function scans over a seeded permutation split into fixed-size
      mini-batches (the last one padded and masked), so it compiles once. For large
      datasets (ImageNet-size feature caches) pick one of these with a ``batch_size``.

Reference:
    Standard linear-evaluation protocol of self-supervised learning, e.g. Chen et al.
    "A Simple Framework for Contrastive Learning of Visual Representations" (SimCLR),
    ICML 2020, Appendix B.6 (L-BFGS-trained L2-regularised logistic regression on frozen
    features for the transfer experiments); Kolesnikov, Zhai, Beyer, "Revisiting
    Self-Supervised Visual Representation Learning", CVPR 2019.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

_OPTIMIZERS = ("lbfgs", "adam", "sgd")
_DEFAULT_LR = {"lbfgs": None, "adam": 1e-2, "sgd": 0.1}


def topk_accuracy(logits: jax.Array, labels: jax.Array, k: int = 1) -> jax.Array:
    """Fraction of rows whose label is among the ``k`` highest logits (jit-safe).

    Args:
        logits: scores ``[M, C]`` (any monotone transform of class probabilities).
        labels: integer ``[M]``.
        k: how many top classes count as a hit; clipped to ``C``.

    Returns:
        float32 scalar in ``[0, 1]``.
    """
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels)
    k = max(1, min(int(k), logits.shape[-1]))
    _, top = lax.top_k(logits, k)  # [M, k]
    hit = jnp.any(top == labels[:, None], axis=-1)
    return jnp.mean(hit.astype(jnp.float32))


@flax.struct.dataclass
class LinearClassifier:
    """A trained linear classifier with its feature standardisation (a pytree).

    Attributes:
        params: ``{"w": [D, C], "b": [C]}`` float32.
        mean: feature mean ``[D]`` subtracted before the linear map (zeros if not
            standardised).
        std: feature scale ``[D]`` divided by before the linear map (ones if not
            standardised).
        final_loss: the training objective at the returned parameters (scalar).
        steps: optimizer steps taken (scalar int).
        loss_history: ``[epochs]`` float32, the full-batch training objective after each
            L-BFGS iteration or each epoch (NaN after L-BFGS converged early).
    """

    params: dict[str, jax.Array]
    mean: jax.Array
    std: jax.Array
    final_loss: jax.Array
    steps: jax.Array
    loss_history: jax.Array

    @property
    def num_classes(self) -> int:
        """Number of classes ``C``."""
        return self.params["b"].shape[0]

    def logits(self, features) -> jax.Array:
        """Class logits ``[M, C]`` float32 of raw (unstandardised) features ``[M, D]``."""
        return _apply(self.params, self.mean, self.std, jnp.asarray(features, jnp.float32))

    def predict(self, features) -> jax.Array:
        """Predicted classes, int32 ``[M]``, of raw features ``[M, D]``."""
        return jnp.argmax(self.logits(features), axis=-1).astype(jnp.int32)


@jax.jit
def _apply(params, mean, std, x):
    return _linear((x - mean) / std, params)


def _linear(x, params):
    return jnp.matmul(x, params["w"], precision=lax.Precision.HIGHEST) + params["b"]


def _objective(params, x, y, mask, weight_decay):
    """Masked mean cross-entropy plus (weight_decay / 2) ||W||^2."""
    ce = optax.softmax_cross_entropy_with_integer_labels(_linear(x, params), y)
    data = jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1.0)
    return data + 0.5 * weight_decay * jnp.sum(jnp.square(params["w"]))


@functools.partial(jax.jit, static_argnames=("max_iter",))
def _run_lbfgs(params, x, y, weight_decay, tol, max_iter):
    """Full-batch L-BFGS until ``||grad|| < tol`` or ``max_iter`` iterations.

    Returns (params, final objective, iterations, objective after each iteration
    ``[max_iter]``, NaN where not reached).
    """
    mask = jnp.ones(x.shape[0], jnp.float32)
    fun = lambda p: _objective(p, x, y, mask, weight_decay)
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(fun)

    def step(carry):
        params, state, history = carry
        value, grad = value_and_grad(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=fun)
        count = optax.tree.get(state, "count")
        # the line search's value at the new parameters: no extra objective evaluation
        history = history.at[count - 1].set(optax.tree.get(state, "value"))
        return optax.apply_updates(params, updates), state, history

    def keep_going(carry):
        _, state, _ = carry
        count = optax.tree.get(state, "count")
        grad_norm = optax.tree.norm(optax.tree.get(state, "grad"))
        return (count == 0) | ((count < max_iter) & (grad_norm >= tol))

    history = jnp.full((max_iter,), jnp.nan, jnp.float32)
    params, state, history = lax.while_loop(keep_going, step,
                                            (params, opt.init(params), history))
    return params, fun(params), optax.tree.get(state, "count"), history


def _make_optimizer(name: str, learning_rate, total_steps) -> optax.GradientTransformation:
    """Adam or Nesterov SGD with a cosine decay from ``learning_rate`` to 0 (traceable)."""

    def schedule(count):
        frac = jnp.minimum(count / jnp.maximum(total_steps, 1), 1.0)
        return learning_rate * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))

    if name == "adam":
        return optax.adam(schedule)
    return optax.sgd(schedule, momentum=0.9, nesterov=True)


@functools.partial(jax.jit, static_argnames=("optimizer", "batch_size"))
def _run_epoch(params, opt_state, key, x, y, weight_decay, learning_rate, total_steps, *,
               optimizer, batch_size):
    """One pass over a seeded permutation of the data in fixed-size (masked) mini-batches."""
    opt = _make_optimizer(optimizer, learning_rate, total_steps)
    n = x.shape[0]
    num_batches = -(-n // batch_size)
    total = num_batches * batch_size
    perm = jax.random.permutation(key, n)
    idx = jnp.concatenate([perm, jnp.zeros(total - n, perm.dtype)]).reshape(num_batches, -1)
    mask = (jnp.arange(total) < n).astype(jnp.float32).reshape(num_batches, -1)

    def body(carry, batch):
        params, opt_state = carry
        bidx, bmask = batch
        loss, grads = jax.value_and_grad(_objective)(params, x[bidx], y[bidx], bmask,
                                                     weight_decay)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = lax.scan(body, (params, opt_state), (idx, mask))
    return params, opt_state, jnp.mean(losses)


def _full_objective(params, x, y, weight_decay):
    return _objective(params, x, y, jnp.ones(x.shape[0], jnp.float32), weight_decay)


_full_objective_jit = jax.jit(_full_objective)


def train_linear_classifier(
    train_features,
    train_labels,
    *,
    num_classes: int,
    epochs: int = 100,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    weight_decay: float = 5e-4,
    optimizer: str = "lbfgs",
    seed: int = 0,
    standardize: bool = True,
    tol: float = 1e-6,
) -> LinearClassifier:
    """Trains an L2-regularised multinomial logistic regression on frozen features.

    Args:
        train_features: ``[N, D]`` features (NumPy or jax, any float dtype).
        train_labels: integer ``[N]`` in ``[0, num_classes)``.
        num_classes: number of classes ``C``.
        epochs: passes over the data for ``"adam"``/``"sgd"``; maximum L-BFGS iterations
            for ``"lbfgs"``.
        batch_size: mini-batch size for ``"adam"``/``"sgd"``; ``None`` = full batch.
            Must be ``None`` for ``"lbfgs"``.
        learning_rate: peak learning rate of the cosine schedule for ``"adam"`` (default
            1e-2) / ``"sgd"`` (default 0.1, Nesterov momentum 0.9); must be ``None`` for
            ``"lbfgs"``, whose step comes from its line search.
        weight_decay: ``lambda`` of the ``(lambda / 2) ||W||^2`` penalty added to the mean
            cross-entropy (the bias is not penalised).
        optimizer: ``"lbfgs"``, ``"adam"`` or ``"sgd"``.
        seed: seeds the mini-batch order (L-BFGS is deterministic; parameters start at 0).
        standardize: subtract the training-feature mean and divide by their std per
            dimension (stored in the result and applied by ``logits``/``predict``).
        tol: L-BFGS stops when the gradient norm falls below this.

    Returns:
        A `LinearClassifier`.

    Raises:
        ValueError: on bad shapes, labels out of range, unknown optimizer, or a
            ``batch_size`` or ``learning_rate`` given with ``"lbfgs"``.
    """
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"linear: optimizer must be one of {_OPTIMIZERS}; got {optimizer!r}")
    if optimizer == "lbfgs" and batch_size is not None:
        raise ValueError(
            "linear: L-BFGS is full-batch; pass batch_size=None or use optimizer='adam'")
    x = jnp.asarray(train_features, jnp.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"linear: train_features must be a non-empty [N, D]; got {x.shape}")
    labels_np = np.asarray(train_labels)
    if labels_np.shape != (x.shape[0],):
        raise ValueError(f"linear: train_labels must be [{x.shape[0]}]; got {labels_np.shape}")
    if labels_np.min() < 0 or labels_np.max() >= num_classes:
        raise ValueError(
            f"linear: labels must lie in [0, {num_classes}); got range "
            f"[{labels_np.min()}, {labels_np.max()}]")
    if epochs < 1:
        raise ValueError(f"linear: epochs must be >= 1; got {epochs}")
    y = jnp.asarray(labels_np, jnp.int32)
    n, d = x.shape

    if standardize:
        mean = jnp.mean(x, axis=0)
        std = jnp.std(x, axis=0)
        std = jnp.where(std > 1e-6 * jnp.maximum(jnp.abs(mean), 1.0), std, 1.0)
    else:
        mean, std = jnp.zeros(d, jnp.float32), jnp.ones(d, jnp.float32)
    xs = (x - mean) / std
    params = {"w": jnp.zeros((d, num_classes), jnp.float32),
              "b": jnp.zeros((num_classes,), jnp.float32)}
    wd = jnp.float32(weight_decay)
    lr = _DEFAULT_LR[optimizer] if learning_rate is None else learning_rate

    if optimizer == "lbfgs":
        if lr is not None:
            raise ValueError(
                "linear: L-BFGS uses a line search; leave learning_rate=None")
        params, loss, steps, history = _run_lbfgs(params, xs, y, wd, jnp.float32(tol),
                                                  int(epochs))
    else:
        bs = n if batch_size is None else min(int(batch_size), n)
        steps_per_epoch = -(-n // bs)
        total_steps = jnp.float32(epochs * steps_per_epoch)
        lr = jnp.float32(lr)
        opt_state = _make_optimizer(optimizer, lr, total_steps).init(params)
        key = jax.random.PRNGKey(seed)
        history = []
        for epoch in range(epochs):
            params, opt_state, _ = _run_epoch(
                params, opt_state, jax.random.fold_in(key, epoch), xs, y, wd, lr, total_steps,
                optimizer=optimizer, batch_size=bs)
            history.append(_full_objective_jit(params, xs, y, wd))
        loss = history[-1]
        history = jnp.stack(history)
        steps = jnp.int32(epochs * steps_per_epoch)
    return LinearClassifier(params=params, mean=mean, std=std, final_loss=loss, steps=steps,
                            loss_history=history)


def evaluate_linear(clf: LinearClassifier, test_features, test_labels) -> dict[str, Any]:
    """Top-1 and top-5 accuracy of a trained classifier.

    Args:
        clf: a `LinearClassifier` from `train_linear_classifier`.
        test_features: raw features ``[M, D]``.
        test_labels: integer ``[M]``.

    Returns:
        ``{"top1": float, "top5": float}``; top-5 is 1.0 when there are at most 5 classes.
    """
    logits = clf.logits(test_features)
    labels = jnp.asarray(test_labels, jnp.int32)
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"linear: test_labels must be [{logits.shape[0]}]; got {labels.shape}")
    return {"top1": float(topk_accuracy(logits, labels, 1)),
            "top5": float(topk_accuracy(logits, labels, 5))}
