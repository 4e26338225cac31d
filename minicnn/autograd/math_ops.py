"""More differentiable operations, and the function forms of Tensor's operators.

``Exp``, ``Log``, ``Sqrt``, ``Abs``, ``Clip``, ``Concatenate`` are Functions
like the arithmetic ones in ``tensor.py``; ``add(a, b)``, ``mean(a, axis)`` ...
are the entry points layers and losses call (the same Functions as ``a + b``,
``a.mean(axis)``).
"""
from __future__ import annotations

import itertools

from .. import backend
from .tensor import (Add, Div, Function, GetItem, MatMul, Mul, Neg, Power, Reshape, Sub, Sum, Transpose, _pair,
                     as_tensor)


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


class Abs(Function):
    def forward(self, a):
        self.sign = backend.get_array_module(a).sign(a)
        return abs(a)

    def backward(self, g):
        return g * self.sign


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
