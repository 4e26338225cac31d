"""Small helpers with Keras' names (``mc.utils.set_random_seed`` ...)."""
from __future__ import annotations

import numpy as np

from . import random as _random


def set_random_seed(seed: int) -> None:
    """Make weight initialisation, dropout and shuffling repeatable."""
    _random.set_seed(int(seed))


def to_categorical(y, num_classes=None, dtype="float32"):
    """Integer labels -> one-hot rows (labels of shape (N,) or (N, 1))."""
    y = np.asarray(y, dtype="int64")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}), got {y.min()}..{y.max()}")
    return np.eye(num_classes, dtype=dtype)[y]
