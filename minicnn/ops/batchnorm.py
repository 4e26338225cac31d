"""Batch normalization as one Function, with the closed-form backward.

Over the reduction axes (all but channels, for NHWC images) with n values per
channel::

    mean = Σx / n        var = Σ(x - mean)² / n        (biased, as Keras)
    inv  = 1 / sqrt(var + ε)
    y    = x · (γ·inv) + (β - mean·γ·inv)      (TensorFlow's evaluation order)

Training mode uses the batch's mean/var, which depend on x, so the gradient
has three paths (through x directly, through mean, through var). Writing
x̂ = (x - mean)·inv and ĝ = g·γ, they collapse to::

    dL/dx = inv · (ĝ - mean(ĝ) - x̂ · mean(ĝ · x̂))
    dL/dγ = Σ g · x̂          dL/dβ = Σ g

Inference mode uses fixed (moving) statistics, so y is affine in x and
dL/dx = g · γ · inv.

Fast path for channels-last data: ``kernels/numba_batchnorm.py::batchnorm_forward``/
``batchnorm_backward``, the same formulas in two or three passes over the data.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from .activation_ops import relu_in_place, relu_slope
from .kernels import fast_kernel


class BatchNormFunction(Function):
    """Inputs: x, gamma, beta (gamma/beta may be constant ones/zeros tensors).

    ``stats=(mean, var)`` fixes the statistics (inference); ``stats=None``
    computes them from the batch and exposes them as ``batch_mean``/``batch_var``
    for the moving-average update.
    """

    def __init__(self, axes, epsilon, stats=None, relu=False, max_value=None):
        self.axes, self.epsilon, self.stats = tuple(axes), epsilon, stats
        self.relu, self.max_value = relu, max_value  # a ReLU fused in after (models/fusion.py)

    def _fast(self, name, x):
        """The compiled override, for statistics over every axis but the last."""
        channels_last = self.axes == tuple(range(x.ndim - 1))
        return fast_kernel(name, x) if channels_last else None

    def forward(self, x, gamma, beta):
        xp = get_array_module(x)
        self.beta_shape = beta.shape  # gamma may be a broadcast constant (scale=False): its shape is not beta's
        fast = self._fast("batchnorm_forward", x)
        if fast is not None:
            c = x.shape[-1]
            stats = None if self.stats is None else tuple(s.reshape(-1) for s in self.stats)
            y, mean, var = fast(x.reshape(-1, c), gamma.reshape(-1), beta.reshape(-1), self.epsilon, stats,
                                self.relu, self.max_value)
            keep = (1,) * (x.ndim - 1) + (c,)
            if self.stats is None:
                self.batch_mean, self.batch_var = mean.reshape(keep), var.reshape(keep)
            self.x, self.mean, self.var, self.gamma = x, mean, var, gamma
            self.y = y.reshape(x.shape) if self.relu else None
            return y.reshape(x.shape)
        if self.stats is None:
            mean = x.mean(axis=self.axes, keepdims=True)
            var = xp.square(x - mean).mean(axis=self.axes, keepdims=True)
            self.batch_mean, self.batch_var = mean, var
        else:
            mean, var = self.stats
        inv = 1.0 / xp.sqrt(var + x.dtype.type(self.epsilon))
        scale = inv * gamma
        self.x, self.mean, self.inv, self.gamma = x, mean, inv, gamma
        y = x * scale + (beta - mean * scale)
        if self.relu:
            relu_in_place(y, self.max_value)
        self.y = y if self.relu else None
        return y

    def backward(self, g):
        needs = self.needs_input_grad
        fast = self._fast("batchnorm_backward", g)
        if fast is not None:
            c = g.shape[-1]
            gx, ggamma, gbeta = fast(g.reshape(-1, c), self.x.reshape(-1, c), self.mean, self.var,
                                     self.gamma.reshape(-1), self.epsilon, self.stats is None, needs,
                                     None if self.y is None else self.y.reshape(-1, c), self.max_value)
            return (None if gx is None else gx.reshape(g.shape),
                    None if ggamma is None else ggamma.reshape(self.gamma.shape),
                    None if gbeta is None else gbeta.reshape(self.beta_shape))
        if self.relu:
            g = g * relu_slope(self.y, self.max_value)
        xhat = (self.x - self.mean) * self.inv
        gx = ggamma = gbeta = None
        if needs[0]:
            gg = g * self.gamma
            if self.stats is None:
                gx = self.inv * (gg - gg.mean(axis=self.axes, keepdims=True)
                                 - xhat * (gg * xhat).mean(axis=self.axes, keepdims=True))
            else:
                gx = gg * self.inv
        if needs[1]:
            ggamma = (g * xhat).sum(axis=self.axes).reshape(self.gamma.shape)
        if needs[2]:
            gbeta = g.sum(axis=self.axes).reshape(self.beta_shape)
        return gx, ggamma, gbeta
