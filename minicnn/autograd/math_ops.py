"""Elementary differentiable operations: arithmetic, reductions, reshaping.

Each class is a ``Function`` with a ``forward`` over arrays and a ``backward``
that applies the chain rule. Broadcasting is undone in backward by
``unbroadcast``: if ``b`` of shape (3,) was added to ``a`` of shape (8, 3), the
gradient for ``b`` is the (8, 3) gradient summed over the broadcast axis.
The lowercase functions at the bottom are the public entry points.
"""
from __future__ import annotations

import itertools
import numbers

from .. import backend
from .function import Function
from .tensor import Tensor, as_tensor


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape`` (the inverse of NumPy broadcasting)."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def _pair(a, b):
    """Turn Python numbers into arrays of the other operand's dtype (no up-cast)."""
    if isinstance(a, numbers.Number) and not isinstance(b, numbers.Number):
        b = as_tensor(b)
        a = as_tensor(backend.get_array_module(b.data).asarray(a, dtype=b.dtype))
    elif isinstance(b, numbers.Number) and not isinstance(a, numbers.Number):
        a = as_tensor(a)
        b = as_tensor(backend.get_array_module(a.data).asarray(b, dtype=a.dtype))
    return a, b


class Add(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(g, self.shapes[1])


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return unbroadcast(g * self.b, self.a.shape), unbroadcast(g * self.a, self.b.shape)


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        ga = g / self.b
        gb = -g * self.a / (self.b * self.b)
        return unbroadcast(ga, self.a.shape), unbroadcast(gb, self.b.shape)


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Power(Function):
    def __init__(self, exponent):
        self.exponent = exponent

    def forward(self, a):
        self.a = a
        return a ** self.exponent

    def backward(self, g):
        return g * self.exponent * self.a ** (self.exponent - 1)


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


class MatMul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):
        # a batched (N, T, K) @ (K, U) broadcasts b: its gradient sums over the batch axes
        ga = unbroadcast(g @ self.b.swapaxes(-1, -2), self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(self.a.swapaxes(-1, -2) @ g, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Sum(Function):
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, a):
        self.shape = a.shape
        return a.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, g):
        xp = backend.get_array_module(g)
        if self.axis is not None and not self.keepdims:
            axes = (self.axis,) if isinstance(self.axis, int) else self.axis
            g = xp.expand_dims(g, tuple(a % len(self.shape) for a in axes))
        return xp.broadcast_to(g, self.shape)


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, a):
        self.in_shape = a.shape
        return a.reshape(self.shape)

    def backward(self, g):
        return g.reshape(self.in_shape)


class Transpose(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, a):
        return a.transpose(self.axes)

    def backward(self, g):
        if self.axes is None:
            return g.transpose()
        inverse = [0] * len(self.axes)
        for i, ax in enumerate(self.axes):
            inverse[ax] = i
        return g.transpose(inverse)


class GetItem(Function):
    def __init__(self, index):
        self.index = index.data if isinstance(index, Tensor) else index

    def forward(self, a):
        self.shape, self.dtype = a.shape, a.dtype
        return a[self.index]

    def backward(self, g):
        xp = backend.get_array_module(g)
        out = xp.zeros(self.shape, dtype=self.dtype)
        if _is_basic(self.index):
            out[self.index] = g
        else:  # fancy indexes may repeat an element: contributions must add up
            xp.add.at(out, self.index, g)
        return out


def _is_basic(index):
    """True for indexes made of ints/slices only (no repeated elements possible)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in items)


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
    a = as_tensor(a)
    if axis is None:
        count = a.size
    else:
        axes = (axis,) if isinstance(axis, int) else axis
        count = 1
        for ax in axes:
            count *= a.shape[ax]
    return mul(Sum(axis, keepdims)(a), 1.0 / count)


def reshape(a, shape):
    return Reshape(tuple(shape))(a)


def transpose(a, axes=None):
    return Transpose(None if axes is None else tuple(axes))(a)


def getitem(a, index):
    return GetItem(index)(a)


def concatenate(tensors, axis=-1):
    return Concatenate(axis)(*tensors)
