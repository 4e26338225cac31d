"""More differentiable operations, and the function forms of Tensor's operators.

``Exp``, ``Log``, ``Sqrt``, ``Sin``, ``Cos``, ``Maximum``, ``Where``, ``Clip``,
``Concatenate``, ``Stack``, ``Cast`` are Functions like the arithmetic ones in
``tensor.py``; ``add(a, b)``, ``mean(a, axis)`` ... are the entry points layers
and losses call (the same Functions as ``a + b``, ``a.mean(axis)``).
``minicnn.ops`` offers all of them to custom layers under Keras' names.
"""
from __future__ import annotations

import functools
import itertools

from .. import backend
import numpy as np

from .tensor import (NUMPY_UFUNCS, Abs, Add, Div, Extremum, Function, GetItem, MatMul, Mul, Neg, Power, Reshape,
                     Sub, Sum, Transpose, Tensor, _pair, as_tensor, compare, unbroadcast)


class Exp(Function):
    def forward(self, a):
        self.y = backend.get_array_module(a).exp(a)
        return self.y

    def backward(self, g):
        return g * self.y


class Log(Function):
    def forward(self, a):
        self.a = a
        return backend.get_array_module(a).log(a)

    def backward(self, g):
        return g / self.a


class Sqrt(Function):
    def forward(self, a):
        self.y = backend.get_array_module(a).sqrt(a)
        return self.y

    def backward(self, g):
        return g / (2 * self.y)


class Sin(Function):
    def forward(self, a):
        self.a = a
        return backend.get_array_module(a).sin(a)

    def backward(self, g):
        return g * backend.get_array_module(g).cos(self.a)


class Cos(Function):
    def forward(self, a):
        self.a = a
        return backend.get_array_module(a).cos(a)

    def backward(self, g):
        return -g * backend.get_array_module(g).sin(self.a)


class Maximum(Function):
    """Elementwise max(a, b) (``"max"``) or min(a, b) (``"min"``), broadcasting.

    Each value's gradient goes to the operand it came from; on a tie, to ``a``
    (as TensorFlow does).
    """

    def __init__(self, which="max"):
        self.which = which

    def forward(self, a, b):
        xp = backend.get_array_module(a, b)
        self.shapes = (a.shape, b.shape)
        self.from_a = a >= b if self.which == "max" else a <= b
        return xp.maximum(a, b) if self.which == "max" else xp.minimum(a, b)

    def backward(self, g):
        return unbroadcast(g * self.from_a, self.shapes[0]), unbroadcast(g * ~self.from_a, self.shapes[1])


class Where(Function):
    """``x`` where ``condition`` holds, else ``y``; the condition is a constant
    (it has no gradient), so each gradient is masked by it."""

    def __init__(self, condition):
        self.condition = condition.data if isinstance(condition, Tensor) else condition

    def forward(self, x, y):
        xp = backend.get_array_module(x, y)
        self.condition = xp.asarray(self.condition, dtype=bool)
        self.shapes = (x.shape, y.shape)
        return xp.where(self.condition, x, y)

    def backward(self, g):
        return (unbroadcast(g * self.condition, self.shapes[0]),
                unbroadcast(g * ~self.condition, self.shapes[1]))


class Cast(Function):
    """A change of dtype; the gradient is cast back to the input's dtype."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, a):
        self.in_dtype = a.dtype
        return a.astype(self.dtype)

    def backward(self, g):
        return g.astype(self.in_dtype)


class Clip(Function):
    """Clamp to [lo, hi]; the gradient is zero where the value was clamped."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, a):
        self.inside = (a >= self.lo) & (a <= self.hi)
        return backend.get_array_module(a).clip(a, self.lo, self.hi)

    def backward(self, g):
        return g * self.inside


class Concatenate(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *arrays):
        self.sizes = [a.shape[self.axis] for a in arrays]
        return backend.get_array_module(*arrays).concatenate(arrays, axis=self.axis)

    def backward(self, g):
        xp = backend.get_array_module(g)
        cuts = list(itertools.accumulate(self.sizes))[:-1]
        return tuple(xp.split(g, cuts, axis=self.axis))


class Stack(Function):
    """Arrays of one shape stacked along a new ``axis``; backward unstacks."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *arrays):
        return backend.get_array_module(*arrays).stack(arrays, axis=self.axis)

    def backward(self, g):
        xp = backend.get_array_module(g)
        return tuple(xp.squeeze(part, axis=self.axis) for part in xp.split(g, g.shape[self.axis], axis=self.axis))


def add(a, b):
    return Add()(*_pair(a, b))


def sub(a, b):
    return Sub()(*_pair(a, b))


def mul(a, b):
    return Mul()(*_pair(a, b))


def div(a, b):
    return Div()(*_pair(a, b))


def neg(a):
    return Neg()(a)


def power(a, exponent):
    return Power(exponent)(a)


def exp(a):
    return Exp()(a)


def log(a):
    return Log()(a)


def sqrt(a):
    return Sqrt()(a)


def absolute(a):
    return Abs()(a)


def square(a):
    return Power(2)(a)


def sin(a):
    return Sin()(a)


def cos(a):
    return Cos()(a)


def maximum(a, b):
    return Maximum("max")(*_pair(a, b))


def minimum(a, b):
    return Maximum("min")(*_pair(a, b))


def max(a, axis=None, keepdims=False):  # noqa: A001 - mirrors numpy's name
    return Extremum("max", axis, keepdims)(a)


def min(a, axis=None, keepdims=False):  # noqa: A001 - mirrors numpy's name
    return Extremum("min", axis, keepdims)(a)


def where(condition, x, y):
    return Where(condition)(*_pair(x, y))


def cast(a, dtype):
    return Cast(dtype)(a)


# comparisons: boolean Tensors without gradient (``tensor.compare``)
greater = functools.partial(compare, np.greater)
greater_equal = functools.partial(compare, np.greater_equal)
less = functools.partial(compare, np.less)
less_equal = functools.partial(compare, np.less_equal)
equal = functools.partial(compare, np.equal)
not_equal = functools.partial(compare, np.not_equal)


def clip(a, lo, hi):
    return Clip(lo, hi)(a)


def matmul(a, b):
    return MatMul()(a, b)


def sum(a, axis=None, keepdims=False):  # noqa: A001 - mirrors numpy's name
    return Sum(axis, keepdims)(a)


def mean(a, axis=None, keepdims=False):
    return as_tensor(a).mean(axis=axis, keepdims=keepdims)


def reshape(a, shape):
    return Reshape(tuple(shape))(a)


def transpose(a, axes=None):
    return Transpose(None if axes is None else tuple(axes))(a)


def getitem(a, index):
    return GetItem(index)(a)


def concatenate(tensors, axis=-1):
    return Concatenate(axis)(*tensors)


def stack(tensors, axis=0):
    return Stack(axis)(*tensors)


def expand_dims(a, axis):
    """A new axis of length 1 at ``axis`` (a reshape, so its gradient is one too)."""
    a = as_tensor(a)
    shape = list(a.shape)
    shape.insert(axis if axis >= 0 else axis + a.ndim + 1, 1)
    return Reshape(tuple(shape))(a)


def squeeze(a, axis=None):
    """Drop axes of length 1 (all of them, or those in ``axis``)."""
    a = as_tensor(a)
    axes = range(a.ndim) if axis is None else [ax % a.ndim for ax in ((axis,) if isinstance(axis, int) else axis)]
    for ax in axes:
        if axis is not None and a.shape[ax] != 1:
            raise ValueError(f"squeeze: axis {ax} of a tensor of shape {a.shape} has length {a.shape[ax]}, not 1")
    return Reshape(tuple(n for i, n in enumerate(a.shape) if not (i in axes and n == 1)))(a)


# NumPy ufuncs called on a Tensor run these (see Tensor.__array_ufunc__)
NUMPY_UFUNCS.update({
    np.exp: exp, np.log: log, np.sqrt: sqrt, np.square: square, np.sin: sin, np.cos: cos,
    np.maximum: maximum, np.minimum: minimum,
})
