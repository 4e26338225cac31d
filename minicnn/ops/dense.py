"""Dense (fully connected) as a 1x1 convolution: y = x @ kernel + bias (+ ReLU).

Treat each row of x (one sample; for inputs with more axes, one position) as
a 1x1 "image" whose channels are the row's features, and the (features,
units) kernel as a bank of 1x1 filters. A 1x1 convolution of a 1x1 image is
one row times the kernel: exactly what Dense computes. So Dense runs on the
Conv2D kernel slots and shares their work: the batch split across the cores,
bias and ReLU in one pass, and no im2col copy (a 1x1 window is the image).
"""
from __future__ import annotations

from .conv import Conv2DFunction
from .shapes import WindowGeometry

ONE_PIXEL = WindowGeometry.make(1, 1, (1, 1), (1, 1), "valid")


class DenseFunction(Conv2DFunction):
    """y = x @ w (+ b) [then ReLU] over the last axis of x. Inputs: x, w[, b]."""

    def __init__(self, relu: bool = False):
        super().__init__(ONE_PIXEL, relu)

    def forward(self, x, w, b=None):
        self.shapes = x.shape, w.shape
        y = super().forward(x.reshape(-1, 1, 1, x.shape[-1]), w.reshape(1, 1, *w.shape), b)
        return y.reshape(*x.shape[:-1], w.shape[-1])

    def backward(self, g):
        x_shape, w_shape = self.shapes
        grads = super().backward(g.reshape(-1, 1, 1, w_shape[-1]))
        shapes = (x_shape, w_shape, w_shape[-1:])
        return tuple(None if gr is None else gr.reshape(s) for gr, s in zip(grads, shapes))


def dense(x, w, b=None, relu=False):
    """x @ w (+ b) on the last axis, and ReLU with ``relu=True``, differentiably."""
    fn = DenseFunction(relu)
    return fn(x, w) if b is None else fn(x, w, b)
