"""Metrics that are running averages of a per-sample value over an epoch
(accuracy, top-k accuracy, mean absolute/squared error, the loss), kept on the
data's device.

A metric's state is two device scalars (total, count). ``update`` adds a batch
without copying anything to the host; ``result`` reads the value once, so a GPU
training loop synchronises only when a number is actually printed.
"""
from __future__ import annotations

from ..autograd import Tensor
from ..backend import get_array_module


def _raw(v):
    return v.data if isinstance(v, Tensor) else v


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(prediction) equals the integer label, per sample."""
    y_pred = _raw(y_pred)
    xp = get_array_module(y_pred)
    labels = xp.asarray(_raw(y_true))
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    return (y_pred.argmax(axis=-1) == labels.astype(xp.int64)).astype(y_pred.dtype)


def categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(prediction) equals argmax(one-hot target)."""
    y_pred = _raw(y_pred)
    xp = get_array_module(y_pred)
    return (y_pred.argmax(axis=-1) == xp.asarray(_raw(y_true)).argmax(axis=-1)).astype(y_pred.dtype)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Mean over the last axis of (prediction > threshold) == target."""
    y_pred = _raw(y_pred)
    xp = get_array_module(y_pred)
    y_true = xp.asarray(_raw(y_true))
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true[..., None]
    hits = (y_pred > threshold) == (y_true > 0.5)
    return hits.astype(y_pred.dtype).mean(axis=-1)


def _accuracy_by_shape(y_true, y_pred):
    """'accuracy' for other losses: decide from the shapes, as Keras does."""
    y_pred = _raw(y_pred)
    y_true = _raw(y_true)
    if y_pred.shape[-1] == 1:
        return binary_accuracy(y_true, y_pred)
    if y_true.ndim < y_pred.ndim or y_true.shape[-1] == 1:
        return sparse_categorical_accuracy(y_true, y_pred)
    return categorical_accuracy(y_true, y_pred)


class Metric:
    """A running mean of a per-sample function, accumulated on the device."""

    def __init__(self, fn, name):
        self.fn, self.name = fn, name
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch; with ``sample_weight`` (one per sample) a weighted mean, as Keras."""
        values = self.fn(y_true, y_pred)
        if sample_weight is None:
            self.total = self.total + values.sum()
            self.count += values.size
            return
        xp = get_array_module(values)
        weights = xp.asarray(_raw(sample_weight), dtype=values.dtype).reshape(
            (values.shape[0],) + (1,) * (values.ndim - 1))
        weights = xp.broadcast_to(weights, values.shape)
        self.total = self.total + (values * weights).sum()
        self.count += float(weights.sum())

    def result(self) -> float:
        return float(self.total) / self.count if self.count else 0.0


# -- the metric classes Keras users name in compile(metrics=[...]) ---------------------------
class BinaryAccuracy(Metric):
    """``keras.metrics.BinaryAccuracy``: prediction > ``threshold`` equals the target
    (``threshold=0.0`` for logits, as TensorFlow's transfer-learning tutorial compiles)."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(lambda t, p: binary_accuracy(t, p, threshold), name)
        self.threshold = threshold


class CategoricalAccuracy(Metric):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(Metric):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name)


class TopKCategoricalAccuracy(Metric):
    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(lambda t, p: top_k_categorical_accuracy(t, p, k), name)
        self.k = k


class SparseTopKCategoricalAccuracy(Metric):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(lambda t, p: sparse_top_k_categorical_accuracy(t, p, k), name)
        self.k = k


class MeanAbsoluteError(Metric):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name)


class MeanSquaredError(Metric):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name)


class Mean:
    """Running mean of scalar values weighted by a count (used for the loss)."""

    def __init__(self, name="loss"):
        self.name = name
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0

    def update_state(self, value, weight=1):
        self.total = self.total + _raw(value) * weight
        self.count += weight

    def result(self) -> float:
        return float(self.total) / self.count if self.count else 0.0


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the integer label is among the k highest predictions, per sample.
    As TensorFlow's ``in_top_k``: the label is in when fewer than k classes score
    strictly higher than it (ties at the boundary count as in)."""
    y_pred = _raw(y_pred)
    xp = get_array_module(y_pred)
    labels = xp.asarray(_raw(y_true))
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    target = xp.take_along_axis(y_pred, labels.astype(xp.int64)[..., None], axis=-1)
    return ((y_pred > target).sum(axis=-1) < k).astype(y_pred.dtype)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """``sparse_top_k_categorical_accuracy`` for one-hot targets."""
    return sparse_top_k_categorical_accuracy(_raw(y_true).argmax(axis=-1), y_pred, k)


def mean_absolute_error(y_true, y_pred):
    """mean(|target - prediction|) over the last axis, per sample."""
    y_pred = _raw(y_pred)
    xp = get_array_module(y_pred)
    return xp.abs(xp.asarray(_raw(y_true), dtype=y_pred.dtype) - y_pred).mean(axis=-1)


def mean_squared_error(y_true, y_pred):
    """mean((target - prediction)²) over the last axis, per sample."""
    y_pred = _raw(y_pred)
    xp = get_array_module(y_pred)
    return xp.square(xp.asarray(_raw(y_true), dtype=y_pred.dtype) - y_pred).mean(axis=-1)
