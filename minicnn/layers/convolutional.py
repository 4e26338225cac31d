"""Conv2D, a learned sliding filter bank (im2col + GEMM), and its transpose,
Conv2DTranspose, the learned upsampling of decoders (col2im of a GEMM)."""
from __future__ import annotations

from .. import activations, constraints, initializers
from ..ops.conv import conv2d
from ..ops.conv_pool import conv2d_relu_max_pool2d
from ..ops.conv_transpose import conv2d_transpose, transposed_geometry, transposed_output_length
from ..ops.shapes import WindowGeometry, output_length
from .arguments import check_channels_last, normalize_output_padding, normalize_window, positive_int
from .base import InputSpec, Layer


class FilterBank(Layer):
    """What Conv2D and Conv2DTranspose share: ``filters`` learned kernels of
    ``kernel_size`` swept with ``strides``/``padding``/``dilation_rate``, a bias
    and an activation. The arguments are checked here once, the weights made
    here (each subclass says its kernel's shape), and the config written here.
    """

    def __init__(self, filters, kernel_size, strides, padding, dilation_rate, activation, use_bias,
                 kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, data_format,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        where = self.where
        check_channels_last(data_format, where)
        self.filters = positive_int(filters, "filters", where)
        self.kernel_size, self.strides, self.padding, self.dilation_rate = normalize_window(
            kernel_size, strides, padding, dilation_rate, where)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(ndim=4)

    @property
    def where(self) -> str:
        """How errors name this layer: ``Conv2D 'conv2d_1'``."""
        return f"{type(self).__name__} '{self.name}'"

    def kernel_shape(self, c_in) -> tuple:
        """The kernel's shape for ``c_in`` input channels (Keras' layout)."""
        raise NotImplementedError

    def build(self, input_shape):
        c_in = input_shape[-1]
        self.kernel = self.add_weight(self.kernel_shape(c_in), self.kernel_initializer,
                                      name="kernel", regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = (self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                     regularizer=self.bias_regularizer, constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.input_spec = InputSpec(ndim=4, axes={-1: c_in})

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                **self.weight_arguments("kernel_initializer", "bias_initializer", "kernel_regularizer",
                                        "bias_regularizer", "kernel_constraint", "bias_constraint")}


class Conv2D(FilterBank):
    """2-D convolution over NHWC inputs with an HWIO kernel (Keras' layout).

    Output size per spatial axis: floor((N + 2p - ((k-1)·d + 1)) / s) + 1,
    with Keras' 'same' padding rule (see ``minicnn/ops/shapes.py``).

    How it runs: one Function (``ops/conv.py``), im2col + one GEMM, with the
    bias and a ReLU activation applied in the same pass. In a ``Sequential``,
    a Conv2D(activation='relu') directly followed by a MaxPooling2D runs
    together with it as one Function: ``Sequential.fused_groups``
    (``models/sequential.py``) finds the pair and ``call(max_pool=...)`` hands
    the pooling to ``ops/conv_pool.py``. The result is that of the two layers;
    ``summary()`` and ``explain()`` list the pairs that run this way. A
    ``Dense`` layer is never fused: it runs as its own GEMM Function
    (``ops/dense.py``).
    """

    kind = "conv"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 data_format=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, dilation_rate, activation, use_bias,
                         kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, data_format,
                         kernel_constraint, bias_constraint, **kwargs)

    def kernel_shape(self, c_in) -> tuple:
        return (*self.kernel_size, c_in, self.filters)

    def call(self, inputs, max_pool=None):
        """Convolve; with ``max_pool`` (the MaxPooling2D layer that follows, see
        ``fuses_with``) also pool, returning that layer's output."""
        where = f"Conv2D '{self.name}'"
        if max_pool is not None:
            return conv2d_relu_max_pool2d(inputs, self.kernel, self.bias, self.strides, self.padding,
                                          self.dilation_rate, max_pool.pool_size, max_pool.strides,
                                          max_pool.padding, layer=where, pool_layer=f"MaxPooling2D '{max_pool.name}'")
        fuse_relu = self.activation is activations.relu  # one pass instead of two (ops/conv.py)
        y = conv2d(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
                   layer=where, relu=fuse_relu)
        return y if fuse_relu else self.activation(y)

    def call_fused(self, inputs, batch_norm=None, relu=False, max_value=None, pads=None, residual=None):
        """This convolution with its graph neighbours folded in (``models/fusion.py``):
        a BatchNormalization in inference mode after it (into the kernel and
        bias), an Add of ``residual`` and a ReLU/ReLU6 after that (into the
        output pass), a ZeroPadding2D before it (``pads``, into the window
        sweep). The layer's own activation is linear here."""
        kernel, bias = self.kernel, self.bias
        if batch_norm is not None:
            kernel, bias = batch_norm.fold_into(kernel, bias, (self.filters,))
        return conv2d(self._to_tensor(inputs), kernel, bias, self.strides, self.padding, self.dilation_rate,
                      layer=f"Conv2D '{self.name}'", relu=relu, max_value=max_value, pads=pads, residual=residual)

    def fuses_with(self, next_layer) -> bool:
        """Conv2D(activation='relu') then a layer that declares
        ``fusable_after_conv_relu`` (MaxPooling2D) run as one Function
        (``ops/conv_pool.py``) once both layers are built."""
        return (self.activation is activations.relu and next_layer.fusable_after_conv_relu
                and self.built and next_layer.built and self._output_shape is not None)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        out = [output_length(size, k, s, self.padding, d)
               for size, k, s, d in zip((h, w), self.kernel_size, self.strides, self.dilation_rate)]
        if any(o is not None and o < 1 for o in out):  # raises the explanatory error
            WindowGeometry.make(h, w, self.kernel_size, self.strides, self.padding, self.dilation_rate,
                                layer=f"Conv2D '{self.name}'")
        return (n, *out, self.filters)


class Conv2DTranspose(FilterBank):
    """Transposed 2-D convolution over NHWC inputs: each input pixel adds a
    kernel-weighted patch to the output, patches ``strides`` apart, so with
    strides 2 the image doubles in size (see ``ops/conv_transpose.py``).

    Weights (Keras' order and shapes): ``kernel`` (kh, kw, filters, C_in) — note
    filters before C_in, the reverse of Conv2D — and ``bias`` (filters,).

    Output size per axis ('valid': (N-1)·s + k_eff + output_padding, with
    output_padding=None meaning max(k_eff, s) - k_eff; 'same': N·s, or
    (N-1)·s + k_eff mod 2 + output_padding), as Keras.
    """

    kind = "conv_transpose"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, dilation_rate, activation, use_bias,
                         kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, data_format,
                         kernel_constraint, bias_constraint, **kwargs)
        self.output_padding = normalize_output_padding(output_padding, self.strides, self.where)

    def kernel_shape(self, c_in) -> tuple:
        return (*self.kernel_size, self.filters, c_in)

    def call(self, inputs):
        y = conv2d_transpose(inputs, self.kernel, self.bias, self.strides, self.padding, self.output_padding,
                             self.dilation_rate, layer=self.where)
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        if h is not None and w is not None:  # raises the explanatory error for a size with no matching conv
            transposed_geometry(h, w, self.kernel_size, self.strides, self.padding, self.output_padding,
                                self.dilation_rate, layer=self.where)
        ops = self.output_padding or (None, None)
        return (n, *[transposed_output_length(size, k, s, self.padding, op, d) for size, k, s, op, d
                     in zip((h, w), self.kernel_size, self.strides, ops, self.dilation_rate)], self.filters)

    def get_config(self):
        return {**super().get_config(), "output_padding": self.output_padding}
