"""``minicnn.ops``: the differentiable functions a custom layer calls, under the
names ``keras.ops`` uses.

A custom layer's ``call`` receives Tensors. Everything here takes Tensors (or
arrays and numbers, which become constants) and returns a Tensor that
remembers how it was computed, so gradients flow through it to the layers
before. Each name is a thin door onto a Function whose forward and backward
you can read: ``autograd/tensor.py`` (the operators and ``max``/``min``),
``autograd/math_ops.py`` (the rest of the maths) and ``activation_ops.py``.

Comparisons (``greater``, ``equal``, ...) and ``argmax``/``argmin`` return
Tensors with no gradient: a step has no useful slope. Use them as conditions
for ``where``, or as masks.

    class Swish(minicnn.layers.Layer):
        def call(self, x):
            return x * minicnn.ops.sigmoid(x)

NumPy's own ufuncs on a Tensor (``np.tanh(x)``, ``np.maximum(x, 0)``) run the
same Functions; any other NumPy function raises a TypeError rather than
silently computing outside the graph.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Tensor, as_tensor, math_ops
from ..autograd.math_ops import (absolute, add, cast, clip, cos, div, equal, exp, expand_dims,
                                 greater, greater_equal, less, less_equal, log, matmul, max, maximum, mean, min,
                                 minimum, mul, neg, not_equal, power, reshape, sin, sqrt, square, squeeze, stack,
                                 sub, sum, transpose, where)
from . import activation_ops

abs = absolute  # noqa: A001 - keras.ops.abs
subtract, multiply, divide, negative = sub, mul, div, neg


def convert_to_tensor(x, dtype=None) -> Tensor:
    return as_tensor(x, dtype)


def convert_to_numpy(x) -> np.ndarray:
    """The value as a NumPy array, outside the graph."""
    return backend.to_numpy(x.data if isinstance(x, Tensor) else x)


def shape(x) -> tuple:
    return tuple(as_tensor(x).shape)


def concatenate(xs, axis=0) -> Tensor:
    """Join along an existing axis (Keras' default: the first)."""
    return math_ops.concatenate(xs, axis)


def argmax(x, axis=None, keepdims=False) -> Tensor:
    """Index of the largest value (of the flattened tensor when ``axis`` is None)."""
    return Tensor(as_tensor(x).data.argmax(axis=axis, keepdims=keepdims))


def argmin(x, axis=None, keepdims=False) -> Tensor:
    return Tensor(as_tensor(x).data.argmin(axis=axis, keepdims=keepdims))


def relu(x):
    return activation_ops.ReLU()(x)


def sigmoid(x):
    return activation_ops.Sigmoid()(x)


def tanh(x):
    return activation_ops.Tanh()(x)


def softmax(x, axis=-1):
    return activation_ops.Softmax(axis)(x)


def gelu(x, approximate=True):
    """Keras' ``ops.gelu`` defaults to the tanh approximation (its layer and
    activation default to the exact form)."""
    return activation_ops.GELU(approximate)(x)


__all__ = [
    "abs", "absolute", "add", "argmax", "argmin", "cast", "clip", "concatenate", "convert_to_numpy",
    "convert_to_tensor", "cos", "divide", "equal", "exp", "expand_dims", "gelu", "greater", "greater_equal", "less",
    "less_equal", "log", "matmul", "max", "maximum", "mean", "min", "minimum", "multiply", "negative", "not_equal",
    "power", "relu", "reshape", "shape", "sigmoid", "sin", "softmax", "sqrt", "square", "squeeze", "stack",
    "subtract", "sum", "tanh", "transpose", "where",
]
