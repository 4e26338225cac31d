"""Layers that change an image's size without learning anything:
ZeroPadding2D, Cropping2D, UpSampling2D (NHWC)."""
from __future__ import annotations

from ..autograd import math_ops
from ..ops.spatial import UpSampleNearest2D, ZeroPad2D
from .base import InputSpec, Layer
from .preprocessing import Resizing


def normalize_margins(value, layer, what):
    """Keras' three spellings of per-side margins -> ((top, bottom), (left, right)).

    ``1`` -> ((1, 1), (1, 1)); ``(1, 2)`` -> ((1, 1), (2, 2)); ``((1, 0), (2, 3))`` stays.
    """
    if isinstance(value, int):
        value = ((value, value), (value, value))
    elif len(value) == 2 and all(isinstance(v, int) for v in value):
        value = ((value[0], value[0]), (value[1], value[1]))
    value = tuple(tuple(v) for v in value)
    if len(value) != 2 or any(len(v) != 2 or not all(isinstance(i, int) and i >= 0 for i in v) for v in value):
        raise ValueError(f"{layer}: {what} must be an int, 2 ints or 2 pairs of non-negative ints, got {value!r}")
    return value


class ZeroPadding2D(Layer):
    """Add rows and columns of zeros around each image (MobileNet pads before a strided 3x3)."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"ZeroPadding2D '{self.name}': only data_format='channels_last' is supported")
        self.padding = normalize_margins(padding, f"ZeroPadding2D '{self.name}'", "padding")
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        return ZeroPad2D(self.padding)(inputs)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (t, b), (l, r) = self.padding
        return (n, None if h is None else h + t + b, None if w is None else w + l + r, c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


class Cropping2D(Layer):
    """Cut rows and columns off each image's edges."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Cropping2D '{self.name}': only data_format='channels_last' is supported")
        self.cropping = normalize_margins(cropping, f"Cropping2D '{self.name}'", "cropping")
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (t, b), (l, r) = self.cropping
        out_h = None if h is None else h - t - b
        out_w = None if w is None else w - l - r
        if (out_h is not None and out_h < 1) or (out_w is not None and out_w < 1):
            raise ValueError(f"Cropping2D '{self.name}': cropping {self.cropping} leaves nothing of an input "
                             f"of shape {tuple(input_shape)} (output would be {out_h}x{out_w})")
        return (n, out_h, out_w, c)

    def call(self, inputs):
        _, h, w, _ = self.compute_output_shape(tuple(inputs.shape))
        (t, _), (l, _) = self.cropping
        return math_ops.getitem(inputs, (slice(None), slice(t, t + h), slice(l, l + w)))

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


class UpSampling2D(Layer):
    """Enlarge images ``size`` times: 'nearest' repeats each pixel into a block,
    'bilinear' interpolates between pixel centres (as ``Resizing`` does)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        where = f"UpSampling2D '{self.name}'"
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{where}: only data_format='channels_last' is supported")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"{where}: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
        size = (size, size) if isinstance(size, int) else tuple(size)
        if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
            raise ValueError(f"{where}: size must be a positive int or 2 positive ints, got {size!r}")
        self.size, self.interpolation = size, interpolation
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        if self.interpolation == "nearest":
            return UpSampleNearest2D(self.size)(inputs)
        # bilinear is Keras' image resize to (h·sh, w·sw), which Resizing computes
        _, h, w, _ = inputs.shape
        resize = Resizing(h * self.size[0], w * self.size[1], "bilinear", dtype=self.dtype, name=f"{self.name}_resize")
        return resize(inputs)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.size[0], None if w is None else w * self.size[1], c)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation}
