"""Metrics, by name or as classes, as Keras offers them (``metrics.get``).

``running_means.py``  accuracy, top-k accuracy, MAE, MSE, the loss: running
                      averages of a per-sample value
``confusion.py``      Precision, Recall, AUC: counts of right and wrong yes/no
                      decisions at thresholds

'accuracy' means different things for different labels; ``get`` resolves it
the way Keras does, from the loss: integer labels -> sparse categorical
accuracy, one-hot labels -> categorical accuracy, binary labels -> binary
accuracy.
"""
from __future__ import annotations

from .confusion import AUC, Precision, Recall
from .running_means import (BinaryAccuracy, CategoricalAccuracy, Mean, MeanAbsoluteError, MeanSquaredError, Metric,
                            SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy,
                            binary_accuracy, categorical_accuracy, mean_absolute_error, mean_squared_error,
                            sparse_categorical_accuracy, sparse_top_k_categorical_accuracy,
                            top_k_categorical_accuracy, _accuracy_by_shape)

__all__ = [
    "AUC", "BinaryAccuracy", "CategoricalAccuracy", "Mean", "MeanAbsoluteError", "MeanSquaredError", "Metric",
    "Precision", "Recall", "SparseCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy",
    "binary_accuracy", "categorical_accuracy", "get", "mean_absolute_error", "mean_squared_error",
    "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy", "top_k_categorical_accuracy",
]

_CLASSES = {"auc": AUC, "AUC": AUC, "precision": Precision, "Precision": Precision, "recall": Recall,
            "Recall": Recall}

_FUNCTIONS = {
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
}


def get(identifier, loss=None) -> Metric:
    """A Metric from a name ('accuracy', 'acc', or a full name) or a function.

    ``loss`` (a Loss object) decides what 'accuracy' means. With a binary
    cross-entropy on logits the threshold is 0 instead of 0.5, since a logit of 0
    is a probability of 0.5 (Keras keeps 0.5 there, which is a known trap).
    """
    if hasattr(identifier, "update_state") and hasattr(identifier, "result"):
        return identifier  # a metric object: ours, or the user's own
    if isinstance(identifier, str) and identifier in _CLASSES:
        return _CLASSES[identifier]()
    if identifier in ("accuracy", "acc"):
        loss_name = getattr(loss, "name", "")
        if loss_name == "sparse_categorical_crossentropy":
            return Metric(sparse_categorical_accuracy, identifier)
        if loss_name == "binary_crossentropy":
            threshold = 0.0 if getattr(loss, "from_logits", False) else 0.5
            return Metric(lambda t, p: binary_accuracy(t, p, threshold), identifier)
        return Metric(_accuracy_by_shape, identifier)
    if isinstance(identifier, str) and identifier in _FUNCTIONS:
        return Metric(_FUNCTIONS[identifier], identifier)
    if callable(identifier):
        return Metric(identifier, getattr(identifier, "__name__", "metric"))
    raise ValueError(
        f"Unknown metric {identifier!r}. Valid names: {sorted(['accuracy', 'acc', *_FUNCTIONS, *_CLASSES])}"
    )
