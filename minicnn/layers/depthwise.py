"""DepthwiseConv2D and SeparableConv2D: the cheap convolutions of MobileNet and Xception.

A Conv2D with a k x k kernel from C to F channels costs k²·C·F multiply-adds
per pixel. Splitting it in two — a depthwise k x k filter per channel (k²·C),
then a 1x1 "pointwise" Conv2D that mixes channels (C·F) — costs k²·C + C·F,
about 8-9x less for 3x3 kernels and many channels, with nearly the accuracy.
SeparableConv2D is exactly that pair in one layer.
"""
from __future__ import annotations

from .. import activations, constraints, initializers
from ..ops.conv import conv2d
from ..ops.depthwise import depthwise_conv2d
from ..ops.shapes import WindowGeometry, output_length
from .arguments import check_channels_last, normalize_window, positive_int
from .base import InputSpec, Layer


class DepthwiseConv2D(Layer):
    """Filter each input channel with its own ``depth_multiplier`` kernels.

    Weights (Keras' order and shapes): ``depthwise_kernel`` (kh, kw, C, M) and
    ``bias`` (C·M,). Output channel c·M + m comes from input channel c.
    """

    kind = "depthwise_conv"

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self._init_window(kernel_size, strides, padding, dilation_rate, depth_multiplier, data_format)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer, self.bias_regularizer = depthwise_regularizer, bias_regularizer
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _init_window(self, kernel_size, strides, padding, dilation_rate, depth_multiplier, data_format):
        where = f"{type(self).__name__} '{self.name}'"
        check_channels_last(data_format, where)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", where)
        self.kernel_size, self.strides, self.padding, self.dilation_rate = normalize_window(
            kernel_size, strides, padding, dilation_rate, where)
        self.input_spec = InputSpec(ndim=4)

    def build(self, input_shape):
        c_in = input_shape[-1]
        self.depthwise_kernel = self.add_weight((*self.kernel_size, c_in, self.depth_multiplier),
                                                self.depthwise_initializer, name="depthwise_kernel",
                                                regularizer=self.depthwise_regularizer,
                                                constraint=self.depthwise_constraint)
        self.bias = (self.add_weight((c_in * self.depth_multiplier,), self.bias_initializer, name="bias",
                                     regularizer=self.bias_regularizer, constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.input_spec = InputSpec(ndim=4, axes={-1: c_in})

    def _depthwise(self, inputs, bias):
        return depthwise_conv2d(inputs, self.depthwise_kernel, bias, self.strides, self.padding,
                                self.dilation_rate, layer=f"{type(self).__name__} '{self.name}'")

    def call(self, inputs):
        return self.activation(self._depthwise(inputs, self.bias))

    def call_fused(self, inputs, batch_norm=None, relu=False, max_value=None, pads=None):
        """This depthwise convolution with its graph neighbours folded in, as
        ``Conv2D.call_fused`` (``models/fusion.py``)."""
        kernel, bias = self.depthwise_kernel, self.bias
        if batch_norm is not None:
            kernel, bias = batch_norm.fold_into(kernel, bias, kernel.shape[2:])
        return depthwise_conv2d(self._to_tensor(inputs), kernel, bias, self.strides, self.padding,
                                self.dilation_rate, layer=f"{type(self).__name__} '{self.name}'", relu=relu,
                                max_value=max_value, pads=pads)

    def _spatial_out(self, h, w):
        out = [output_length(size, k, s, self.padding, d)
               for size, k, s, d in zip((h, w), self.kernel_size, self.strides, self.dilation_rate)]
        if any(o is not None and o < 1 for o in out):  # raises the explanatory error
            WindowGeometry.make(h, w, self.kernel_size, self.strides, self.padding, self.dilation_rate,
                                layer=f"{type(self).__name__} '{self.name}'")
        return out

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, *self._spatial_out(h, w), None if c is None else c * self.depth_multiplier)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "depth_multiplier": self.depth_multiplier,
                "dilation_rate": self.dilation_rate, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                **self.weight_arguments("depthwise_initializer", "bias_initializer", "depthwise_regularizer",
                                        "bias_regularizer", "depthwise_constraint", "bias_constraint")}


class SeparableConv2D(DepthwiseConv2D):
    """Depthwise k x k filter per channel, then a 1x1 Conv2D to ``filters`` channels.

    Weights (Keras' order): ``depthwise_kernel`` (kh, kw, C, M), ``pointwise_kernel``
    (1, 1, C·M, filters), ``bias`` (filters,). The bias is added once, after the
    pointwise step.
    """

    kind = "separable_conv"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, depthwise_constraint=None, pointwise_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate,
                         activation, use_bias, depthwise_initializer, bias_initializer,
                         depthwise_regularizer, bias_regularizer, depthwise_constraint, bias_constraint, **kwargs)
        self.filters = positive_int(filters, "filters", f"SeparableConv2D '{self.name}'")
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = pointwise_regularizer
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        c_in = input_shape[-1]
        mid = c_in * self.depth_multiplier
        self.depthwise_kernel = self.add_weight((*self.kernel_size, c_in, self.depth_multiplier),
                                                self.depthwise_initializer, name="depthwise_kernel",
                                                regularizer=self.depthwise_regularizer,
                                                constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight((1, 1, mid, self.filters), self.pointwise_initializer,
                                                name="pointwise_kernel", regularizer=self.pointwise_regularizer,
                                                constraint=self.pointwise_constraint)
        self.bias = (self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                     regularizer=self.bias_regularizer, constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.input_spec = InputSpec(ndim=4, axes={-1: c_in})

    def call(self, inputs):
        y = self._depthwise(inputs, None)
        y = conv2d(y, self.pointwise_kernel, self.bias, layer=f"SeparableConv2D '{self.name}'")
        return self.activation(y)

    def call_fused(self, inputs, batch_norm=None, relu=False, max_value=None, pads=None, residual=None):
        """The depthwise step (with ``pads``), then the pointwise one with a
        following BatchNormalization folded into it, and the Add of
        ``residual`` and the ReLU in its output pass (``models/fusion.py``)."""
        where = f"SeparableConv2D '{self.name}'"
        y = depthwise_conv2d(self._to_tensor(inputs), self.depthwise_kernel, None, self.strides, self.padding,
                             self.dilation_rate, layer=where, pads=pads)
        kernel, bias = self.pointwise_kernel, self.bias
        if batch_norm is not None:
            kernel, bias = batch_norm.fold_into(kernel, bias, (self.filters,))
        return conv2d(y, kernel, bias, layer=where, relu=relu, max_value=max_value, residual=residual)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        return (n, *self._spatial_out(h, w), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                **self.weight_arguments("pointwise_initializer", "pointwise_regularizer", "pointwise_constraint")}
