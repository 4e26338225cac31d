"""Dense (fully connected): y = x @ kernel + bias (+ ReLU), one GEMM each way.

Over the last axis of x (features F, units U; any leading axes are rows)::

    y     = x2 @ w + b          x2: (rows, F), w: (F, U)  ->  (rows, U)

Backward, given g = dL/dy as (rows, U), after ReLU's slope (g · (y > 0))::

    dL/dx = g @ w.T             dL/dw = x2.T @ g          dL/db = g summed over rows

``dense_reference_forward``/``_backward`` are these lines. On the CPU,
``DenseFunction`` runs their compiled override,
``kernels/numba_conv.py::dense_forward``/``dense_backward``: bias and ReLU in
one pass, and the GEMMs split across the cores over the weights (or over the
rows, for a weight matrix smaller than its input). ``tests/test_kernels_conv.py``
tests the two equal.
"""
from __future__ import annotations

from ..autograd import Function
from .activation_ops import relu_in_place, relu_slope
from .conv import wanted_gradients
from .kernels import fast_kernel


def dense_reference_forward(x2, w, b, relu: bool):
    """y = [relu](x2 @ w + b) for x2 of shape (rows, F)."""
    y = x2 @ w
    if b is not None:
        y += b
    if relu:
        relu_in_place(y)
    return y


def dense_reference_backward(g2, x2, w, y2, relu: bool, needs):
    """(dx, dw, db) of ``dense_reference_forward``; ``needs`` says which to compute."""
    if relu:
        g2 = g2 * relu_slope(y2)
    gx = g2 @ w.T if needs[0] else None
    gw = x2.T @ g2 if needs[1] else None
    gb = g2.sum(axis=0) if needs[2] else None
    return gx, gw, gb


class DenseFunction(Function):
    """y = x @ w (+ b) [then ReLU] over the last axis of x. Inputs: x, w[, b].

    Fast path: ``kernels/numba_conv.py::dense_forward``/``dense_backward``.
    """

    def __init__(self, relu: bool = False):
        self.relu = relu

    def forward(self, x, w, b=None):
        self.x_shape = x.shape
        self.x2, self.w = x.reshape(-1, x.shape[-1]), w
        run = fast_kernel("dense_forward", x) or dense_reference_forward
        y2 = run(self.x2, w, b, self.relu)
        self.y2 = y2 if self.relu else None
        return y2.reshape(*x.shape[:-1], w.shape[-1])

    def backward(self, g):
        g2 = g.reshape(-1, self.w.shape[-1])
        run = fast_kernel("dense_backward", g) or dense_reference_backward
        gx, gw, gb = run(g2, self.x2, self.w, self.y2, self.relu, wanted_gradients(self))
        gx = None if gx is None else gx.reshape(self.x_shape)
        return (gx, gw, gb)[:len(self.needs_input_grad)]


def dense(x, w, b=None, relu=False):
    """x @ w (+ b) on the last axis, and ReLU with ``relu=True``, differentiably."""
    fn = DenseFunction(relu)
    return fn(x, w) if b is None else fn(x, w, b)
