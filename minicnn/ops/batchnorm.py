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
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module


class BatchNormFunction(Function):
    """Inputs: x, gamma, beta (gamma/beta may be constant ones/zeros tensors).

    ``stats=(mean, var)`` fixes the statistics (inference); ``stats=None``
    computes them from the batch and exposes them as ``batch_mean``/``batch_var``
    for the moving-average update.
    """

    def __init__(self, axes, epsilon, stats=None):
        self.axes, self.epsilon, self.stats = tuple(axes), epsilon, stats

    def forward(self, x, gamma, beta):
        xp = get_array_module(x)
        if self.stats is None:
            mean = x.mean(axis=self.axes, keepdims=True)
            var = xp.square(x - mean).mean(axis=self.axes, keepdims=True)
            self.batch_mean, self.batch_var = mean, var
        else:
            mean, var = self.stats
        inv = 1.0 / xp.sqrt(var + x.dtype.type(self.epsilon))
        scale = inv * gamma
        self.x, self.mean, self.inv, self.gamma = x, mean, inv, gamma
        self.beta_shape = beta.shape  # gamma may be a broadcast constant (scale=False): its shape is not beta's
        return x * scale + (beta - mean * scale)

    def backward(self, g):
        needs = self.needs_input_grad
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
