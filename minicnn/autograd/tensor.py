"""``Tensor``: an array plus what is needed to differentiate through it.

A Tensor holds ``data`` (a NumPy or CuPy array), ``grad`` (an array of the same
shape, filled by ``backward``), ``requires_grad`` and ``creator`` (the Function
that produced it, if any). Arithmetic operators build new Tensors through
Functions defined in ``math_ops``.

``backward`` walks the graph iteratively (no recursion, so a thousand-layer
network is fine): a heap pops the Function with the largest generation first,
which guarantees that all gradient contributions to a tensor have been added up
before that tensor's own creator runs. Each Function is released after its
backward, so the graph and its saved arrays are freed step by step.
"""
from __future__ import annotations

import heapq
import itertools

import numpy as np

from .. import backend, profiler


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

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(shape={self.shape}, dtype={self.dtype}{grad})"

    # -- differentiation ----------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Fill ``.grad`` of every leaf tensor that this tensor depends on.

        ``grad`` defaults to ones (for a scalar loss: d loss / d loss = 1).
        Leaf gradients accumulate across calls, like PyTorch; zero them between
        steps (the optimizers and ``fit`` do). Intermediate tensors do not keep
        their gradient unless ``retain_graph`` is set.
        """
        xp = backend.get_array_module(self.data)
        if grad is None:
            grad = xp.ones_like(self.data)
        if self.creator is None:  # a leaf: gradients accumulate
            self.grad = grad if self.grad is None else self.grad + grad
            return
        self.grad = grad  # an intermediate: only this pass counts (a retained graph may hold an old one)
        if profiler.active:
            profiler.count_step()
        counter = itertools.count()  # tie-breaker: heap never compares Functions
        heap = [(-self.creator.generation, next(counter), self.creator)]
        queued = {id(self.creator)}
        # Intermediate tensors waiting for their creator's turn. Functions hold
        # their outputs only weakly, so this keeps each one (and its grad) alive.
        waiting = {id(self): self}
        while heap:
            _, _, fn = heapq.heappop(heap)
            outputs = [ref() for ref in fn.outputs]
            grads_out = [  # only gradients that arrived in this pass (waiting), never stale ones
                (o.grad if o is not None and id(o) in waiting else None) for o in outputs
            ]
            if all(g is None for g in grads_out):
                grads_in = (None,) * len(fn.inputs)
            else:
                grads_out = [
                    g if g is not None else xp.zeros_like(o.data) if o is not None else None
                    for g, o in zip(grads_out, outputs)
                ]
                grads_in = (profiler.timed(fn, "backward", fn.backward, grads_out) if profiler.active
                            else fn.backward(*grads_out))
                if not isinstance(grads_in, tuple):
                    grads_in = (grads_in,)
            for tensor, g in zip(fn.inputs, grads_in):
                if g is None or not tensor.requires_grad:
                    continue
                creator = tensor.creator
                first = creator is not None and id(tensor) not in waiting  # first contribution this pass
                tensor.grad = g if tensor.grad is None or first else tensor.grad + g
                if creator is not None:
                    waiting[id(tensor)] = tensor
                if creator is not None and id(creator) not in queued:
                    queued.add(id(creator))
                    heapq.heappush(heap, (-creator.generation, next(counter), creator))
            for o in outputs:
                if o is not None:
                    waiting.pop(id(o), None)
                    if not retain_graph and o is not self:
                        o.grad = None
            if not retain_graph:
                fn.release()
        if not retain_graph:
            self.creator = None

    def detach(self) -> "Tensor":
        """The same data, cut off from the graph."""
        return Tensor(self.data)

    # -- operators (implemented as Functions in math_ops) --------------------
    def __add__(self, other):
        return _ops().add(self, other)

    def __radd__(self, other):
        return _ops().add(other, self)

    def __sub__(self, other):
        return _ops().sub(self, other)

    def __rsub__(self, other):
        return _ops().sub(other, self)

    def __mul__(self, other):
        return _ops().mul(self, other)

    def __rmul__(self, other):
        return _ops().mul(other, self)

    def __truediv__(self, other):
        return _ops().div(self, other)

    def __rtruediv__(self, other):
        return _ops().div(other, self)

    def __neg__(self):
        return _ops().neg(self)

    def __pow__(self, exponent):
        return _ops().power(self, exponent)

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __getitem__(self, index):
        return _ops().getitem(self, index)

    def sum(self, axis=None, keepdims=False):
        return _ops().sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops().mean(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops().reshape(self, shape)

    def transpose(self, *axes):
        return _ops().transpose(self, axes or None)

    @property
    def T(self):
        return _ops().transpose(self, None)


def _ops():
    from . import math_ops  # noqa: PLC0415 - math_ops builds on Tensor

    return math_ops


def as_tensor(value, dtype=None) -> Tensor:
    """Wrap an array or number as a (constant) Tensor; Tensors pass through."""
    if isinstance(value, Tensor):
        return value
    xp = backend.get_array_module(value)
    arr = value if isinstance(value, xp.ndarray) else np.asarray(value)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return Tensor(arr)
