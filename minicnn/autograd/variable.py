"""``Variable``: a named, trainable Tensor that a layer owns (a weight).

Whether a Variable takes part in training is its ``trainable`` flag, which is
the same thing as ``requires_grad``: a frozen weight records no gradient, so
backward skips the work for it. Some weights are never trainable (BatchNorm's
moving statistics); those ignore attempts to make them trainable.
"""
from __future__ import annotations

from .. import backend
from .tensor import Tensor


class Variable(Tensor):
    """A weight. ``version`` counts the changes made to its value in place
    (``assign``, an optimizer step), so that something computed from the value
    (a BatchNormalization folded into a kernel) can tell it is out of date.
    A layer's ``add_weight`` gives it a ``regularizer`` (a penalty the loss
    adds) and a ``constraint`` (a projection the optimizer applies after each
    step); both are None otherwise."""

    regularizer = constraint = None

    def __init__(self, data, name: str, trainable: bool = True):
        super().__init__(data, requires_grad=trainable, name=name)
        self.can_train = trainable
        self.version = 0

    @property
    def trainable(self) -> bool:
        return self.requires_grad

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self.requires_grad = bool(value) and self.can_train

    def assign(self, value) -> None:
        """Overwrite the value in place (shape must match; dtype is kept)."""
        value = backend.get_array_module(self.data).asarray(value, dtype=self.data.dtype)
        if value.shape != self.data.shape:
            raise ValueError(
                f"Variable '{self.name}': cannot assign a value of shape {value.shape} "
                f"to a weight of shape {self.data.shape}"
            )
        self.data[...] = value
        self.version += 1

    def __repr__(self):
        return f"Variable('{self.name}', shape={self.shape}, dtype={self.dtype}, trainable={self.trainable})"
