"""The tape: ``Tensor``, ``Function``, and the Functions behind Tensor's operators.

A ``Tensor`` holds ``data`` (a NumPy or CuPy array), ``grad`` (an array of the
same shape, filled by ``backward``), ``requires_grad`` and ``creator`` (the
Function that produced it, if any).

A ``Function`` receives raw arrays in ``forward`` and returns raw arrays; it
keeps whatever ``backward`` will need (a mask, the im2col matrix, ...) as
attributes. ``needs_input_grad`` (one bool per input) is set before
``forward`` runs: all False when nothing will be differentiated (inference),
so forward can skip keeping what no backward will read. ``backward`` receives
the gradient of the loss with respect to each output and returns the gradient
with respect to each input (``None`` for inputs that need none). Calling a
Function on Tensors runs ``forward`` and, unless gradients are switched off
(``no_grad``, ``grad_mode.py``), links the outputs to the Function so that ``Tensor.backward``
(``backprop.py``) can walk the graph later. That link is the whole "tape".

The two need each other (a Function makes Tensors; ``a + b`` on Tensors calls
a Function), so they live in one module with the few Functions that Tensor's
operators and methods use: Add, Sub, Mul, Div, Neg, Power, MatMul, Sum,
Extremum (max/min), Abs, Reshape, Transpose, GetItem. Broadcasting is undone in backward by ``unbroadcast``: if
``b`` of shape (3,) was added to ``a`` of shape (8, 3), the gradient for ``b``
is the (8, 3) gradient summed over the broadcast axis. More operations, and
the function forms (``math_ops.add(a, b)``), are in ``math_ops.py``.

Comparisons (``a > b``) give a Tensor of booleans outside the graph: a step
function has no useful gradient. ``==`` keeps Python's meaning (identity), so
Tensors stay usable as dictionary keys; ``minicnn.ops.equal`` compares values.
"""
from __future__ import annotations

import math
import numbers
import weakref

import numpy as np

from .. import backend, profiler
from .backprop import backpropagate
from .grad_mode import grad_enabled

class Function:
    """Base class of every differentiable operation.

    Subclasses implement ``forward(*arrays)`` and ``backward(*grad_outputs)``.
    ``generation`` orders the graph: a Function's generation is the largest
    generation of its inputs, so processing Functions from the highest generation
    down visits every consumer of a tensor before that tensor's producer.
    """

    generation = 0
    inputs = ()
    outputs = ()
    needs_input_grad = None  # set by __call__; None: forward was called directly

    def __call__(self, *inputs):
        tensors = [as_tensor(x) for x in inputs]
        recording = grad_enabled() and any(t.requires_grad for t in tensors)
        # Known before forward runs, so that forward keeps only what backward will use.
        self.needs_input_grad = tuple(recording and t.requires_grad for t in tensors)
        arrays = [t.data for t in tensors]
        arrays = (profiler.timed(self, "forward", self.forward, arrays) if profiler.active
                  else self.forward(*arrays))
        single = not isinstance(arrays, tuple)
        outputs = [Tensor(a) for a in ((arrays,) if single else arrays)]
        if recording:
            self.generation = max(t.generation for t in tensors)
            for out in outputs:
                out.creator = self
                out.generation = self.generation + 1
                out.requires_grad = True
            self.inputs = tensors
            # Weak references: the graph does not keep outputs alive on its own.
            self.outputs = [weakref.ref(o) for o in outputs]
        return outputs[0] if single else outputs

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError

    def release(self) -> None:
        """Drop the links and saved arrays once backward has used them."""
        self.inputs = ()
        self.outputs = ()
        for name in [k for k in vars(self) if k not in ("generation",)]:
            delattr(self, name)


class Tensor:
    """An n-dimensional array that remembers how it was computed."""

    __array_priority__ = 100  # so ``ndarray * Tensor`` calls Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        xp = backend.get_array_module(data)
        if not isinstance(data, xp.ndarray):
            data = np.asarray(data)
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self.creator = None
        self.generation = 0
        self.name = name

    # -- array-like views -------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def numpy(self):
        """The value as a NumPy array (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy on a Tensor (``np.tanh(t)``, ``ndarray * t``) runs minicnn's own
        differentiable Function for that ufunc (the table ``NUMPY_UFUNCS``). Any
        other NumPy function would compute on a copy outside the graph, and
        nothing before it would learn: refused, with the way out."""
        operator = NUMPY_UFUNCS.get(ufunc) if method == "__call__" and not kwargs else None
        if operator is None:
            raise TypeError(
                f"numpy.{ufunc.__name__}{'' if method == '__call__' else '.' + method} was called on a minicnn "
                "Tensor: NumPy would compute it on a copy outside the gradient graph, so nothing before it would "
                "learn. Use minicnn.ops (exp, tanh, maximum, max, where, clip, matmul, ...; minicnn.ops.__all__ "
                "lists them) or minicnn.activations; call .numpy() to leave the graph on purpose.")
        return operator(*inputs)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(shape={self.shape}, dtype={self.dtype}{grad})"

    # -- differentiation ----------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Fill ``.grad`` of every leaf tensor that this tensor depends on.

        ``grad`` defaults to ones (for a scalar loss: d loss / d loss = 1).
        Leaf gradients accumulate across calls, like PyTorch; zero them between
        steps (the optimizers and ``fit`` do). Intermediate tensors do not keep
        their gradient unless ``retain_graph`` is set. The walk itself is
        ``backprop.py``.
        """
        backpropagate(self, grad, retain_graph)

    def detach(self) -> "Tensor":
        """The same data, cut off from the graph."""
        return Tensor(self.data)

    # -- operators: each one a Function below ----------------------------------
    def __add__(self, other):
        return Add()(*_pair(self, other))

    def __radd__(self, other):
        return Add()(*_pair(other, self))

    def __sub__(self, other):
        return Sub()(*_pair(self, other))

    def __rsub__(self, other):
        return Sub()(*_pair(other, self))

    def __mul__(self, other):
        return Mul()(*_pair(self, other))

    def __rmul__(self, other):
        return Mul()(*_pair(other, self))

    def __truediv__(self, other):
        return Div()(*_pair(self, other))

    def __rtruediv__(self, other):
        return Div()(*_pair(other, self))

    def __neg__(self):
        return Neg()(self)

    def __pow__(self, exponent):
        return Power(exponent)(self)

    def __matmul__(self, other):
        return MatMul()(self, other)

    def __getitem__(self, index):
        return GetItem(index)(self)

    def __abs__(self):
        return Abs()(self)

    def abs(self):
        return Abs()(self)

    def __lt__(self, other):
        return compare(np.less, self, other)

    def __le__(self, other):
        return compare(np.less_equal, self, other)

    def __gt__(self, other):
        return compare(np.greater, self, other)

    def __ge__(self, other):
        return compare(np.greater_equal, self, other)

    __hash__ = object.__hash__  # identity, as for any Python object (see the module's docstring)

    def max(self, axis=None, keepdims=False):
        return Extremum("max", axis, keepdims)(self)

    def min(self, axis=None, keepdims=False):
        return Extremum("min", axis, keepdims)(self)

    def sum(self, axis=None, keepdims=False):
        return Sum(axis, keepdims)(self)

    def mean(self, axis=None, keepdims=False):
        """The sum divided by the number of values summed."""
        count = self.size if axis is None else math.prod(
            self.shape[ax] for ax in ((axis,) if isinstance(axis, int) else axis))
        return Sum(axis, keepdims)(self) * (1.0 / count)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return Reshape(tuple(shape))(self)

    def transpose(self, *axes):
        return Transpose(tuple(axes) or None)(self)

    @property
    def T(self):
        return Transpose(None)(self)


# The NumPy ufuncs a Tensor answers itself (``Tensor.__array_ufunc__``): its
# operators here; ``math_ops.py`` and ``ops/activation_ops.py`` add their own
# (np.exp, np.tanh, np.maximum, ...) next to the Functions that compute them.
NUMPY_UFUNCS = {
    np.add: lambda a, b: Add()(*_pair(a, b)), np.subtract: lambda a, b: Sub()(*_pair(a, b)),
    np.multiply: lambda a, b: Mul()(*_pair(a, b)), np.true_divide: lambda a, b: Div()(*_pair(a, b)),
    np.negative: lambda a: Neg()(a), np.matmul: lambda a, b: MatMul()(a, b), np.absolute: lambda a: Abs()(a),
    np.less: lambda a, b: compare(np.less, a, b), np.less_equal: lambda a, b: compare(np.less_equal, a, b),
    np.greater: lambda a, b: compare(np.greater, a, b),
    np.greater_equal: lambda a, b: compare(np.greater_equal, a, b),
    np.equal: lambda a, b: compare(np.equal, a, b), np.not_equal: lambda a, b: compare(np.not_equal, a, b),
}


def compare(numpy_comparison, a, b) -> "Tensor":
    """``a < b`` and friends, elementwise: a boolean Tensor with no gradient."""
    a, b = _pair(a, b)
    a, b = as_tensor(a).data, as_tensor(b).data
    xp = backend.get_array_module(a, b)
    return Tensor(getattr(xp, numpy_comparison.__name__)(a, b))


def as_tensor(value, dtype=None) -> Tensor:
    """Wrap an array or number as a (constant) Tensor; Tensors pass through."""
    if isinstance(value, Tensor):
        return value
    xp = backend.get_array_module(value)
    arr = value if isinstance(value, xp.ndarray) else np.asarray(value)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return Tensor(arr)


# -- the Functions behind Tensor's operators ---------------------------------------
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


class Extremum(Function):
    """The largest (``"max"``) or smallest (``"min"``) value along ``axis``.

    The gradient flows to the position(s) that hold the extremum; where several
    tie, they share it equally (as TensorFlow's reduce_max does), so the
    gradients still add up to the incoming one.
    """

    def __init__(self, which, axis, keepdims):
        self.which, self.axis, self.keepdims = which, axis, keepdims

    def forward(self, a):
        y = getattr(a, self.which)(axis=self.axis, keepdims=True)
        self.winners, self.kept_shape = a == y, y.shape
        if self.keepdims:
            return y
        return y.reshape(()) if self.axis is None else y.squeeze(axis=self.axis)

    def backward(self, g):
        g = g.reshape(self.kept_shape)
        return g * self.winners / self.winners.sum(axis=self.axis, keepdims=True).astype(g.dtype)


class Abs(Function):
    def forward(self, a):
        self.sign = backend.get_array_module(a).sign(a)
        return abs(a)

    def backward(self, g):
        return g * self.sign


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


