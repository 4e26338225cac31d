"""Pooling layers: local max/average over windows, and global pooling."""
from __future__ import annotations

from ..ops import pool
from ..ops.shapes import WindowGeometry, output_length
from .arguments import check_channels_last, normalize_padding, normalize_tuple
from .base import InputSpec, Layer


class _Pooling2D(Layer):
    _op = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        where = f"{type(self).__name__} '{self.name}'"
        check_channels_last(data_format, where)
        self.pool_size = normalize_tuple(pool_size, 2, "pool_size", where)
        # Keras: strides default to the pool size (non-overlapping windows)
        self.strides = normalize_tuple(strides if strides is not None else self.pool_size, 2, "strides", where)
        self.padding = normalize_padding(padding, where)
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        out = [output_length(size, k, s, self.padding) for size, k, s in zip((h, w), self.pool_size, self.strides)]
        if any(o is not None and o < 1 for o in out):
            WindowGeometry.make(h, w, self.pool_size, self.strides, self.padding,
                                layer=f"{type(self).__name__} '{self.name}'")
        return (n, *out, c)

    def call(self, inputs):
        return type(self)._op(inputs, self.pool_size, self.strides, self.padding,
                              layer=f"{type(self).__name__} '{self.name}'")

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


class MaxPooling2D(_Pooling2D):
    """Largest value in each window; the gradient goes to that one cell.

    Directly after a Conv2D(activation='relu') in a Sequential, it runs within
    the conv's Function (``ops/conv_pool.py``, ``Conv2D.fuses_with``).
    """

    kind = "max_pool"
    fusable_after_conv_relu = True
    _op = staticmethod(pool.max_pool2d)


class AveragePooling2D(_Pooling2D):
    """Mean of each window (padded cells not counted with padding='same')."""

    kind = "average_pool"
    _op = staticmethod(pool.avg_pool2d)


class _GlobalPooling2D(Layer):
    kind = "global_pool"

    def __init__(self, keepdims=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(data_format, f"{type(self).__name__} '{self.name}'")
        self.keepdims = keepdims
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape):
        n, _, _, c = input_shape
        return (n, 1, 1, c) if self.keepdims else (n, c)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    def call(self, inputs):
        return pool.global_avg_pool2d(inputs, self.keepdims)


class GlobalMaxPooling2D(_GlobalPooling2D):
    def call(self, inputs):
        return pool.global_max_pool2d(inputs, self.keepdims)


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
