"""Turning ``x, y`` arrays (or a batch iterable) into training batches."""
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
    if y is not None and len(y) != n:
        raise ValueError(
            f"{who}: x and y must have the same number of samples, got x with {n} and y with {len(y)}."
        )
    if n == 0:
        raise ValueError(f"{who}: x is empty")


def as_array(a):
    """Lists become arrays; arrays (NumPy/CuPy) and batch sources pass through."""
    return a if a is None or hasattr(a, "shape") else np.asarray(a)


def is_batch_source(x) -> bool:
    """An iterable of (x, y) batches, such as ``image_dataset_from_directory``'s result."""
    return not hasattr(x, "shape") and hasattr(x, "__iter__") and hasattr(x, "__len__") \
        and not isinstance(x, (list, tuple))
