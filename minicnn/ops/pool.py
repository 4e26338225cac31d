"""Pooling: the window maths in plain ``xp`` code, and the Functions that run it.

* Max pooling keeps the largest value of each window; its gradient flows only to
  that one input cell (the "winner"), as in TensorFlow.
* Average pooling takes the mean of each window; with padding='same' the mean
  is over the real cells only (Keras semantics).
* Global pooling reduces the whole H x W plane to one value per channel.
"""
from __future__ import annotations

from ..autograd import Function, math_ops
from ..backend import get_array_module
from .im2col import col2im_windows, im2col, im2col_windows
from .kernels import fast_kernel
from .shapes import WindowGeometry


def maxpool_forward(x, geom: WindowGeometry):
    """Max over each window, and which window cell won (for backward).

    Padding is -inf so that a padded cell never wins. Ties go to the first cell
    in row-major order, so the gradient reaches exactly one input, as in TF.
    Fast paths: ``kernels/numba_cpu.py::maxpool_forward``, ``kernels/cupy_gpu.py::maxpool_forward``.
    """
    fast = fast_kernel("maxpool_forward", x)
    if fast is not None:
        return fast(x, geom)
    xp = get_array_module(x)
    windows = im2col_windows(x, geom, pad_value=-xp.inf)
    n, oh, ow, kh, kw, c = windows.shape
    flat = windows.reshape(n, oh, ow, kh * kw, c)
    winner = flat.argmax(axis=3)
    out = xp.take_along_axis(flat, winner[:, :, :, None, :], axis=3)[:, :, :, 0, :]
    return out, winner


def maxpool_backward(g, winner, x_shape, geom: WindowGeometry):
    """Route each output gradient to the input cell that won the max.
    Fast paths: ``kernels/numba_cpu.py::maxpool_backward``, ``kernels/cupy_gpu.py::maxpool_backward``."""
    fast = fast_kernel("maxpool_backward", g)
    if fast is not None:
        return fast(g, winner, x_shape, geom)
    xp = get_array_module(g)
    kh, kw = geom.kernel
    n, oh, ow, c = g.shape
    cells = xp.arange(kh * kw).reshape(1, 1, 1, kh * kw, 1)
    windows = (cells == winner[:, :, :, None, :]) * g[:, :, :, None, :]
    return col2im_windows(windows.reshape(n, oh, ow, kh, kw, c), x_shape, geom)


def window_counts(geom: WindowGeometry, xp, dtype):
    """How many real (not padded) input cells each output window covers.

    Keras' average pooling with padding='same' divides by this count, so the
    padded zeros do not pull the average down at the borders.
    """
    ones = xp.ones((1, geom.in_h, geom.in_w, 1), dtype=dtype)
    return im2col(ones, geom).sum(axis=1).reshape(1, geom.out_h, geom.out_w, 1)


def avgpool_forward(x, geom: WindowGeometry):
    """Mean over the real cells of each window.
    Fast paths: ``kernels/numba_cpu.py::avgpool_forward``, ``kernels/cupy_gpu.py::avgpool_forward``."""
    fast = fast_kernel("avgpool_forward", x)
    if fast is not None:
        return fast(x, geom)
    xp = get_array_module(x)
    return im2col_windows(x, geom).sum(axis=(3, 4)) / window_counts(geom, xp, x.dtype)


def avgpool_backward(g, x_shape, geom: WindowGeometry):
    """Each real cell of a window gets an equal share of the window's gradient.
    Fast paths: ``kernels/numba_cpu.py::avgpool_backward``, ``kernels/cupy_gpu.py::avgpool_backward``."""
    fast = fast_kernel("avgpool_backward", g)
    if fast is not None:
        return fast(g, x_shape, geom)
    xp = get_array_module(g)
    share = g / window_counts(geom, xp, g.dtype)
    kh, kw = geom.kernel
    windows = xp.broadcast_to(share[:, :, :, None, None, :], share.shape[:3] + (kh, kw, share.shape[3]))
    return col2im_windows(windows, x_shape, geom)


class MaxPool2DFunction(Function):
    """Max pooling: ``maxpool_forward``/``maxpool_backward`` above."""

    def __init__(self, geom: WindowGeometry):
        self.geom = geom

    def forward(self, x):
        self.x_shape = x.shape
        out, self.winner = maxpool_forward(x, self.geom)
        return out

    def backward(self, g):
        return maxpool_backward(g, self.winner, self.x_shape, self.geom)


class AvgPool2DFunction(Function):
    """Average pooling: ``avgpool_forward``/``avgpool_backward`` above."""

    def __init__(self, geom: WindowGeometry):
        self.geom = geom

    def forward(self, x):
        self.x_shape = x.shape
        return avgpool_forward(x, self.geom)

    def backward(self, g):
        return avgpool_backward(g, self.x_shape, self.geom)


class ReduceMax(Function):
    """Maximum over ``axis``; ties share the gradient equally (as tf.reduce_max)."""

    def __init__(self, axis, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        y = x.max(axis=self.axis, keepdims=True)
        self.winners = x == y
        return y if self.keepdims else y.squeeze(axis=self.axis)

    def backward(self, g):
        if not self.keepdims:
            g = get_array_module(g).expand_dims(g, self.axis)
        winners = self.winners.astype(g.dtype)
        share = winners / winners.sum(axis=self.axis, keepdims=True)
        return share * g


def max_pool2d(x, pool_size, strides, padding, layer="max_pooling2d"):
    geom = WindowGeometry.make(x.shape[1], x.shape[2], pool_size, strides, padding, layer=layer)
    return MaxPool2DFunction(geom)(x)


def avg_pool2d(x, pool_size, strides, padding, layer="average_pooling2d"):
    geom = WindowGeometry.make(x.shape[1], x.shape[2], pool_size, strides, padding, layer=layer)
    return AvgPool2DFunction(geom)(x)


def global_avg_pool2d(x, keepdims=False):
    return math_ops.mean(x, axis=(1, 2), keepdims=keepdims)


def global_max_pool2d(x, keepdims=False):
    return ReduceMax((1, 2), keepdims)(x)
