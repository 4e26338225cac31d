"""Pooling as Functions over the kernel slots.

* Max pooling keeps the largest value of each window; its gradient flows only to
  that one input cell (the "winner"), as in TensorFlow.
* Average pooling takes the mean of each window; with padding='same' the mean
  is over the real cells only (Keras semantics).
* Global pooling reduces the whole H x W plane to one value per channel.
"""
from __future__ import annotations

from ..autograd import Function, math_ops
from ..backend import get_array_module
from .kernels import kernel
from .shapes import WindowGeometry


class MaxPool2DFunction(Function):
    def __init__(self, geom: WindowGeometry):
        self.geom = geom

    def forward(self, x):
        self.x_shape = x.shape
        out, self.argmax = kernel("maxpool_forward", get_array_module(x))(x, self.geom)
        return out

    def backward(self, g):
        return kernel("maxpool_backward", get_array_module(g))(g, self.argmax, self.x_shape, self.geom)


class AvgPool2DFunction(Function):
    def __init__(self, geom: WindowGeometry):
        self.geom = geom

    def forward(self, x):
        self.x_shape = x.shape
        return kernel("avgpool_forward", get_array_module(x))(x, self.geom)

    def backward(self, g):
        return kernel("avgpool_backward", get_array_module(g))(g, self.x_shape, self.geom)


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
