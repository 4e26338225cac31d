"""Activation functions as differentiable Functions.

Each forward keeps the least it needs for backward: ReLU a mask, sigmoid and
tanh their output (their derivatives are y(1 - y) and 1 - y²), softmax its
output (the Jacobian-vector product is y·(g - Σ g·y)).
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function
from ..autograd.tensor import NUMPY_UFUNCS
from ..backend import get_array_module
from .kernels import fast_kernel


def relu_in_place(y, max_value=None):
    """y = min(max(y, 0), max_value), in place: ReLU (capped: ReLU6), also where it is
    fused into a layer's output pass (conv, dense, depthwise, batch norm)."""
    xp = get_array_module(y)
    xp.maximum(y, 0, out=y)
    if max_value is not None:
        xp.minimum(y, y.dtype.type(max_value), out=y)


def relu_slope(y, max_value=None):
    """ReLU's slope read off its output y: 1 where 0 < y (and y < max_value), else 0.
    No mask needs keeping: y itself is kept for backward."""
    passed = y > 0
    if max_value is not None:
        passed &= y < y.dtype.type(max_value)
    return passed


class ReLU(Function):
    """max(x, 0), with Keras' optional ``negative_slope``, ``max_value`` and
    ``threshold`` (used by the ReLU layer and relu6; plain relu uses none).

    Backward multiplies by the local slope: 1 where x passed through, 0 where it
    was cut (or capped at ``max_value``), ``negative_slope`` below the threshold.
    For ReLU and ReLU6 the slope is a 0/1 mask, kept only when backward will
    want it (not in inference). Fast path for those two:
    ``kernels/numba_cpu.py::relu_forward``/``relu_backward`` (and ``kernels/cupy_gpu.py``),
    one pass writing y and the mask.
    """

    def __init__(self, negative_slope=0.0, max_value=None, threshold=0.0):
        self.negative_slope, self.max_value, self.threshold = negative_slope, max_value, threshold

    def forward(self, x):
        xp = get_array_module(x)
        keep = self.needs_input_grad is None or self.needs_input_grad[0]
        if self.negative_slope == 0 and self.threshold == 0:  # ReLU, ReLU6
            fast = fast_kernel("relu_forward", x)
            if fast is not None:
                y, self.slope = fast(x, self.max_value, keep)
                return y
            y = x.copy()
            relu_in_place(y, self.max_value)
            self.slope = relu_slope(y, self.max_value) if keep else None  # 0 < x < cap, read off y
            return y
        t = x.dtype.type(self.threshold)
        passed = x > t
        y = xp.where(passed, x, x.dtype.type(self.negative_slope) * (x - t))
        slope = xp.where(passed, 1, self.negative_slope).astype(x.dtype)
        if self.max_value is not None:
            cap = x.dtype.type(self.max_value)
            y = xp.minimum(y, cap)
            slope = xp.where(x >= cap, 0, slope).astype(x.dtype)
        self.slope = slope
        return y

    def backward(self, g):
        fast = fast_kernel("relu_backward", g) if self.slope.dtype == bool else None
        if fast is not None:
            return fast(g, self.slope)
        return g * self.slope


class Sigmoid(Function):
    def forward(self, x):
        xp = get_array_module(x)
        # exp of a negative number only: no overflow for large |x|
        z = xp.exp(-xp.abs(x))
        self.y = xp.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)
        return self.y

    def backward(self, g):
        return g * self.y * (1 - self.y)


class Tanh(Function):
    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, g):
        return g * (1 - self.y * self.y)


NUMPY_UFUNCS[np.tanh] = lambda x: Tanh()(x)  # np.tanh(tensor) runs the Function above


class Softmax(Function):
    """exp(x - max) / Σ exp(x - max): subtracting the max avoids overflow."""

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        self.y = e / e.sum(axis=self.axis, keepdims=True)
        return self.y

    def backward(self, g):
        y = self.y
        return y * (g - (g * y).sum(axis=self.axis, keepdims=True))


class ELU(Function):
    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def forward(self, x):
        xp = get_array_module(x)
        self.x = x
        self.neg = self.alpha * (xp.exp(xp.minimum(x, 0)) - 1)
        return xp.where(x > 0, x, self.neg).astype(x.dtype, copy=False)

    def backward(self, g):
        xp = get_array_module(g)
        return g * xp.where(self.x > 0, 1, self.neg + self.alpha).astype(g.dtype, copy=False)


def erf(x):
    """The error function on NumPy (via Numba's ufunc) or CuPy arrays."""
    xp = get_array_module(x)
    if xp.__name__ == "cupy":
        import cupyx.scipy.special  # noqa: PLC0415 - GPU only

        return cupyx.scipy.special.erf(x)
    return _numpy_erf()(x).astype(x.dtype, copy=False)


_erf_ufunc = []


def _numpy_erf():
    if not _erf_ufunc:
        import numba  # noqa: PLC0415 - compiled on first use only

        @numba.vectorize(["float32(float32)", "float64(float64)"], cache=True)
        def _erf(v):
            return math.erf(v)

        _erf_ufunc.append(_erf)
    return _erf_ufunc[0]


class GELU(Function):
    """x·Φ(x) (exact, Keras' default) or its tanh approximation."""

    def __init__(self, approximate=False):
        self.approximate = approximate

    def forward(self, x):
        xp = get_array_module(x)
        self.x = x
        if self.approximate:
            c = math.sqrt(2 / math.pi)
            self.t = xp.tanh(c * (x + 0.044715 * x ** 3))
            return (0.5 * x * (1 + self.t)).astype(x.dtype, copy=False)
        self.cdf = 0.5 * (1 + erf(x / math.sqrt(2)))
        return (x * self.cdf).astype(x.dtype, copy=False)

    def backward(self, g):
        xp = get_array_module(g)
        x = self.x
        if self.approximate:
            c = math.sqrt(2 / math.pi)
            dt = (1 - self.t ** 2) * c * (1 + 3 * 0.044715 * x ** 2)
            return (g * (0.5 * (1 + self.t) + 0.5 * x * dt)).astype(g.dtype, copy=False)
        pdf = xp.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return (g * (self.cdf + x * pdf)).astype(g.dtype, copy=False)
