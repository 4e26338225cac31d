"""Weight regularizers, as Keras offers them (``kernel_regularizer="l2"`` or
``regularizers.L2(1e-4)``).

A regularizer turns a weight into a penalty that is added to the loss
(``Layer.losses`` collects them, ``Model.compute_loss`` adds them), so the
gradient of the total pulls the weight toward zero:

    L1(l1):       l1 · Σ|w|       gradient l1 · sign(w): pushes small weights to exactly 0
    L2(l2):       l2 · Σw²        gradient 2 · l2 · w: "weight decay", shrinks every weight
    L1L2(l1, l2): both

Each is a differentiable expression of ``autograd`` Functions, like any other
loss. Any function ``f(weight) -> scalar Tensor`` works as a regularizer too;
only these classes can be written to a ``.keras`` file (a function is code).
"""
from __future__ import annotations

from . import keras_objects
from .autograd import math_ops


class Regularizer(keras_objects.KerasObject):
    """Base class: ``regularizer(weight)`` is the penalty (a scalar Tensor)."""

    keras_module = "keras.regularizers"

    def __call__(self, weight):
        raise NotImplementedError


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        for name, value in (("l1", l1), ("l2", l2)):
            if not float(value) >= 0:
                raise ValueError(f"{type(self).__name__}: {name} must be a number >= 0, got {value!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, weight):
        penalty = 0.0
        if self.l1:
            penalty = penalty + math_ops.sum(math_ops.absolute(weight)) * self.l1
        if self.l2:
            penalty = penalty + math_ops.sum(math_ops.square(weight)) * self.l2
        return penalty if self.l1 or self.l2 else math_ops.sum(weight) * 0.0

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2  # Keras' lower-case names for the same classes
_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier):
    """A regularizer from None, a name ('l2'), Keras' dict ({"class_name": "L2",
    "config": {"l2": 0.01}}), a Regularizer or any function of a weight."""
    return keras_objects.lookup(identifier, Regularizer, _BY_NAME, "regularizer",
                                "a minicnn.regularizers class, Keras' dict for one, or a function of the weight")


serialize = keras_objects.serialize  # Keras' dict for a built-in regularizer; a function as it is
