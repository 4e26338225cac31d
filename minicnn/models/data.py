"""Turning ``x, y`` arrays (or a batch iterable) into training batches.

``x`` is one array, or, for a model with several inputs, a list or tuple of
arrays (one per input, in the order of ``Model(inputs=[...])``) or a dict by
input name, as in Keras; ``arrange_inputs`` turns the dict into that list.
Every input must have the same number of samples.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..random import generator


def num_samples(x) -> int:
    if isinstance(x, (list, tuple)):
        return len(x[0])
    return len(x)


def take(x, index):
    if isinstance(x, (list, tuple)):
        return [a[index] for a in x]
    return x[index]


class ArrayBatches:
    """Batches of (x, y) from in-memory arrays, reshuffled every epoch if asked."""

    def __init__(self, x, y=None, batch_size=32, shuffle=False):
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.n = num_samples(x)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        order = generator().permutation(self.n) if self.shuffle else None
        for start in range(0, self.n, self.batch_size):
            idx = (order[start:start + self.batch_size] if order is not None
                   else slice(start, start + self.batch_size))
            yield take(self.x, idx), (None if self.y is None else take(self.y, idx))


def batch_size_or_default(batch_size, who: str) -> int:
    """``batch_size`` checked to be a positive integer, or Keras' default 32 for None."""
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"{who}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def validate_arrays(x, y, who: str):
    """Clear errors for the most common data mistakes, before any computing."""
    if x is None:
        raise ValueError(f"{who}: x is required")
    n = num_samples(x)
    if isinstance(x, (list, tuple)):
        for i, a in enumerate(x[1:], start=1):
            if len(a) != n:
                raise ValueError(f"{who}: every input must have the same number of samples, got input 0 with "
                                 f"{n} and input {i} with {len(a)}.")
    if y is not None and len(y) != n:
        raise ValueError(
            f"{who}: x and y must have the same number of samples, got x with {n} and y with {len(y)}."
        )
    if n == 0:
        raise ValueError(f"{who}: x is empty")


def as_array(a):
    """Lists of numbers become arrays; arrays (NumPy/CuPy) and batch sources pass
    through; a list or tuple of arrays (several inputs) becomes a list of arrays."""
    if a is None or hasattr(a, "shape"):
        return a
    if isinstance(a, (list, tuple)) and a and all(hasattr(item, "shape") for item in a):
        return list(a)
    return np.asarray(a)


def arrange_inputs(x, inputs, who: str):
    """A dict of arrays by input name as the list ``Model.call`` takes, in the
    order of the model's inputs (``inputs``: their KerasTensors); anything else as it is."""
    if not isinstance(x, dict):
        return x
    if not inputs:
        raise ValueError(f"{who}: a dict of inputs needs a model built from named Input()s")
    names = [t.name for t in inputs]
    missing, extra = [n for n in names if n not in x], sorted(set(x) - set(names))
    if missing or extra:
        raise ValueError(f"{who}: the dict's keys must be the model's input names {names}; "
                         f"missing {missing}, unexpected {extra}")
    return [x[n] for n in names]


def is_batch_source(x) -> bool:
    """An iterable of (x, y) batches, such as ``image_dataset_from_directory``'s result."""
    return not hasattr(x, "shape") and hasattr(x, "__iter__") and hasattr(x, "__len__") \
        and not isinstance(x, (list, tuple, dict))
