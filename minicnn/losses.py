"""Loss functions with Keras' names, formulas and reductions.

A loss turns (y_true, y_pred) into one scalar Tensor to minimise. Each class
computes a per-sample loss and averages it over the batch (Keras'
'sum_over_batch_size' reduction).

Cross-entropies accept probabilities (``from_logits=False``, the default) or raw
scores (``from_logits=True``). Given probabilities that a softmax/sigmoid just
produced, they use the logits remembered on that tensor instead, which is exact
where log(probability) would underflow (Keras does the same); otherwise the
probabilities are clipped to [1e-7, 1 - 1e-7] before the log.
"""
from __future__ import annotations

import numpy as np

from .autograd import Tensor, as_tensor, math_ops
from .backend import epsilon, get_array_module
from .ops import loss_ops


def dense_targets(name, y_true, y_pred, allow_missing_last_axis=True):
    """Targets as a constant array on y_pred's device and dtype, shape-checked.

    Targets of shape (N,) for predictions of shape (N, 1) gain the last axis.
    """
    xp = get_array_module(y_pred.data)
    targets = xp.asarray(y_true.data if isinstance(y_true, Tensor) else y_true).astype(y_pred.dtype, copy=False)
    if allow_missing_last_axis and targets.ndim == y_pred.ndim - 1:
        targets = targets[..., None]
    if tuple(targets.shape) != tuple(y_pred.shape):
        raise ValueError(
            f"{name}: y_true has shape {tuple(targets.shape)} but y_pred has shape "
            f"{tuple(y_pred.shape)}; they must match (for integer class labels use "
            "sparse_categorical_crossentropy)."
        )
    return targets


class Loss:
    """Base class: ``loss(y_true, y_pred[, sample_weight])`` -> scalar Tensor.

    The mean over samples of ``per_sample``; with ``sample_weight`` (one weight
    per sample) the mean of the weighted losses, Σ wᵢ·lossᵢ / N: Keras'
    "sum over batch size" reduction, which does not divide by Σ wᵢ.
    """

    name = "loss"

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = as_tensor(y_pred)
        per_sample = self.per_sample(y_true, y_pred)
        if sample_weight is not None:
            xp = get_array_module(per_sample.data)
            weights = xp.asarray(sample_weight, dtype=per_sample.dtype)
            if weights.shape[:1] != per_sample.shape[:1] or weights.ndim > per_sample.ndim:
                raise ValueError(f"{self.name}: sample_weight has shape {tuple(weights.shape)}, expected one "
                                 f"weight per sample: ({per_sample.shape[0]},)")
            per_sample = per_sample * weights.reshape(weights.shape + (1,) * (per_sample.ndim - weights.ndim))
        return math_ops.mean(per_sample)

    def per_sample(self, y_true, y_pred):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, **{k: v for k, v in vars(self).items()}}


class SparseCategoricalCrossentropy(Loss):
    """Integer class labels (shape (N,) or (N, 1)) against K-way predictions."""

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False):
        self.from_logits = from_logits

    def check_labels(self, labels, classes) -> None:
        """Whole numbers in [0, classes), or a clear error."""
        if labels.dtype.kind == "f" and bool((labels != np.round(labels)).any()):
            raise ValueError(f"{self.name}: labels must be whole numbers (class indices).")
        if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= classes):
            raise ValueError(
                f"{self.name}: labels must be in [0, {classes}) for {classes} output classes; "
                f"got values from {int(labels.min())} to {int(labels.max())}."
            )

    def per_sample(self, y_true, y_pred):
        xp = get_array_module(y_pred.data)
        labels = xp.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
        if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
            labels = labels[..., 0]
        if tuple(labels.shape) != tuple(y_pred.shape[:-1]):
            raise ValueError(
                f"{self.name}: labels have shape {tuple(labels.shape)} but predictions have "
                f"shape {tuple(y_pred.shape)}; expected labels of shape {tuple(y_pred.shape[:-1])} "
                f"(one integer class per sample), or (N, 1)."
            )
        # The value checks read the labels: free for host arrays, but on the GPU they would
        # stall every step (and could not sit inside a CUDA-graph capture). ``fit`` checks
        # host label arrays once before training instead (``check_labels``).
        if xp is np:
            self.check_labels(labels, y_pred.shape[-1])
        labels = labels.astype(xp.int64, copy=False)
        logits = _logits_or_log_probs(y_pred, self.from_logits)
        return loss_ops.SparseSoftmaxCrossEntropy()(logits, labels)


def _logits_or_log_probs(y_pred, from_logits):
    """Logits for a softmax cross-entropy: the real logits when known, else log(clip(p))."""
    if from_logits:
        return y_pred
    logits = getattr(y_pred, "keras_logits", None)
    if logits is not None:
        return logits
    return math_ops.log(math_ops.clip(y_pred, epsilon(), 1.0 - epsilon()))


class CategoricalCrossentropy(Loss):
    """One-hot (or soft) targets of the same shape as the predictions."""

    name = "categorical_crossentropy"

    def __init__(self, from_logits=False):
        self.from_logits = from_logits

    def per_sample(self, y_true, y_pred):
        targets = dense_targets(self.name, y_true, y_pred, allow_missing_last_axis=False)
        logits = y_pred if self.from_logits else getattr(y_pred, "keras_logits", None)
        if logits is not None:
            return loss_ops.SoftmaxCrossEntropy()(logits, targets)
        probs = y_pred / math_ops.sum(y_pred, axis=-1, keepdims=True)
        probs = math_ops.clip(probs, epsilon(), 1.0 - epsilon())
        return -math_ops.sum(math_ops.log(probs) * targets, axis=-1)


class BinaryCrossentropy(Loss):
    """Targets in {0, 1} (or [0, 1]) against one probability/logit per output."""

    name = "binary_crossentropy"

    def __init__(self, from_logits=False):
        self.from_logits = from_logits

    def per_sample(self, y_true, y_pred):
        targets = dense_targets(self.name, y_true, y_pred)
        logits = y_pred if self.from_logits else getattr(y_pred, "keras_logits", None)
        if logits is not None:
            elementwise = loss_ops.SigmoidCrossEntropy()(logits, targets)
        else:
            p = math_ops.clip(y_pred, epsilon(), 1.0 - epsilon())
            elementwise = -(math_ops.log(p) * targets + math_ops.log(1.0 - p) * (1.0 - targets))
        return math_ops.mean(elementwise, axis=-1)


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def per_sample(self, y_true, y_pred):
        targets = dense_targets(self.name, y_true, y_pred)
        diff = y_pred - targets
        return math_ops.mean(diff * diff, axis=-1)


class MeanAbsoluteError(Loss):
    name = "mean_absolute_error"

    def per_sample(self, y_true, y_pred):
        targets = dense_targets(self.name, y_true, y_pred)
        diff = y_pred - targets
        return math_ops.mean(math_ops.absolute(diff), axis=-1)


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
}


def get(identifier) -> Loss:
    """A loss from a name, a Loss instance, or a function(y_true, y_pred)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]()
        raise ValueError(f"Unknown loss {identifier!r}. Valid names: {sorted(_BY_NAME)}")
    if callable(identifier):
        return _FunctionLoss(identifier)
    raise ValueError(f"Unknown loss {identifier!r}. Valid names: {sorted(_BY_NAME)}")


class _FunctionLoss(Loss):
    """Wraps a user function returning per-sample (or scalar) losses."""

    def __init__(self, fn):
        self.fn = fn
        self.name = getattr(fn, "__name__", "loss")

    def per_sample(self, y_true, y_pred):
        return as_tensor(self.fn(y_true, y_pred))


sparse_categorical_crossentropy = SparseCategoricalCrossentropy()
categorical_crossentropy = CategoricalCrossentropy()
binary_crossentropy = BinaryCrossentropy()
mean_squared_error = MeanSquaredError()
