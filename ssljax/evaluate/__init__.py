"""Evaluation toolkit: kNN, linear probes on cached features, representation health, plots.

Used online and at the end of pretraining and by the linear-eval / fine-tune programs.
Imports JAX, optax and NumPy only (no TensorFlow); `ssljax.evaluate.plots` imports
matplotlib and scikit-learn lazily, inside its functions.

    from ssljax import evaluate
    evaluate.knn_accuracy(train_f, train_y, test_f, test_y, num_classes=10)
    clf = evaluate.train_linear_classifier(train_f, train_y, num_classes=10)
    evaluate.evaluate_linear(clf, test_f, test_y)  # {"top1": ..., "top5": ...}
    evaluate.health_metrics(z)  # {"embedding_std", "embedding_std_normalized", ...}
"""

from ssljax.evaluate.health import (
    effective_rank,
    embedding_std,
    global_embedding_std,
    health_metrics,
)
from ssljax.evaluate.knn import knn_accuracy, knn_predict, l2_normalize
from ssljax.evaluate.linear import (
    LinearClassifier,
    evaluate_linear,
    topk_accuracy,
    train_linear_classifier,
)
from ssljax.evaluate.plots import plot_embedding_2d, plot_training_curves

__all__ = [
    "LinearClassifier",
    "effective_rank",
    "embedding_std",
    "evaluate_linear",
    "global_embedding_std",
    "health_metrics",
    "knn_accuracy",
    "knn_predict",
    "l2_normalize",
    "plot_embedding_2d",
    "plot_training_curves",
    "topk_accuracy",
    "train_linear_classifier",
]
