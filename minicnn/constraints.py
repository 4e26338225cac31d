"""Weight constraints, as Keras offers them (``kernel_constraint="max_norm"`` or
``constraints.MaxNorm(3)``).

A regularizer *pulls* a weight through the loss; a constraint *puts* it back
where it may be. After every optimizer step, each trainable weight that has a
constraint is replaced by its projection onto the allowed set
(``Optimizer.apply``, as Keras' ``apply_gradients`` does); the gradient never
sees it. Norms are taken over ``axis``, the weights that feed one unit: axis 0
of a Dense kernel (inputs, units), axes (0, 1, 2) of a Conv2D kernel
(rows, cols, channels in, filters) for whole filters.

    MaxNorm(m):            w · min(‖w‖, m) / (ε + ‖w‖)      shrink only vectors longer than m
    MinMaxNorm(a, b, r):   w · (r·clip(‖w‖, a, b) + (1-r)·‖w‖) / (ε + ‖w‖)
    UnitNorm():            w / (ε + ‖w‖)
    NonNeg():              max(w, 0)

with ε = ``backend.epsilon()`` (1e-7), as in Keras. MaxNorm with Dropout is
the pairing of the Dropout paper (Srivastava et al., 2014, section 5.1).
A constraint takes and returns an array (NumPy or CuPy); any such function
works, only these classes can be written to a ``.keras`` file (a function is code).
"""
from __future__ import annotations

from . import keras_objects
from .backend import epsilon, get_array_module


class Constraint(keras_objects.KerasObject):
    """Base class: ``constraint(w)`` is the allowed array nearest ``w`` (here: ``w`` itself)."""

    keras_module = "keras.constraints"

    def __call__(self, w):
        return w


def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _norms(w, axis):
    """‖w‖ over ``axis`` for each unit, kept as size-1 axes so it broadcasts against ``w``."""
    xp = get_array_module(w)
    return xp.sqrt(xp.sum(xp.square(w), axis=_axis(axis), keepdims=True))


class MaxNorm(Constraint):
    """Each unit's weight vector scaled down to norm ``max_value`` if it is longer."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = get_array_module(w).clip(norms, 0, self.max_value)
        return w * (desired / (epsilon() + norms))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Each unit's norm moved toward [min_value, max_value], by ``rate`` of the way (1: all of it)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        clipped = get_array_module(w).clip(norms, self.min_value, self.max_value)
        desired = self.rate * clipped + (1 - self.rate) * norms
        return w * (desired / (epsilon() + norms))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class UnitNorm(Constraint):
    """Each unit's weight vector scaled to norm 1."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (epsilon() + _norms(w, self.axis))

    def get_config(self) -> dict:
        return {"axis": self.axis}


class NonNeg(Constraint):
    """Negative weights set to 0."""

    def __call__(self, w):
        return get_array_module(w).maximum(w, 0)


max_norm, min_max_norm, unit_norm, non_neg = MaxNorm, MinMaxNorm, UnitNorm, NonNeg  # Keras' lower-case names
_BY_NAME = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "unit_norm": UnitNorm, "non_neg": NonNeg,
            "MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm, "UnitNorm": UnitNorm, "NonNeg": NonNeg,
            "Constraint": Constraint}


def get(identifier):
    """A constraint from None, a name ('max_norm'), Keras' dict ({"class_name":
    "MaxNorm", "config": {"max_value": 3}}), a Constraint or any function of an array."""
    return keras_objects.lookup(identifier, Constraint, _BY_NAME, "constraint",
                                "a minicnn.constraints class, Keras' dict for one, or a function of the weight array")


serialize = keras_objects.serialize  # Keras' dict for a built-in constraint; a function as it is
