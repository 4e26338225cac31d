"""Layers that change an image's size without learning anything:
ZeroPadding2D, Cropping2D, UpSampling2D (NHWC)."""
from __future__ import annotations

from ..autograd import math_ops
from ..ops.spatial import UpSampleNearest2D, ZeroPad2D
from .arguments import check_channels_last, normalize_margins, normalize_tuple, one_of
from .base import InputSpec, Layer
from .preprocessing import INTERPOLATIONS, Resizing


class ZeroPadding2D(Layer):
    """Add rows and columns of zeros around each image (MobileNet pads before a strided 3x3)."""

    kind = "zero_padding"

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        where = f"ZeroPadding2D '{self.name}'"
        check_channels_last(data_format, where)
        self.padding = normalize_margins(padding, "padding", where)
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
        where = f"Cropping2D '{self.name}'"
        check_channels_last(data_format, where)
        self.cropping = normalize_margins(cropping, "cropping", where)
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
        check_channels_last(data_format, where)
        self.size = normalize_tuple(size, 2, "size", where)
        self.interpolation = one_of(interpolation, INTERPOLATIONS, "interpolation", where)
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
