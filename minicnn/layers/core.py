"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape."""
from __future__ import annotations

import math

from .. import activations, backend, constraints, initializers
from ..autograd import as_tensor, math_ops
from ..ops.dense import dense
from ..random import RandomSource
from .arguments import positive_int
from .base import InputSpec, Layer
from .symbolic import KerasTensor


class InputLayer(Layer):
    """The entry of a functional model; ``Input(shape)`` creates one."""

    kind = "input"

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None, batch_shape=None,
                 **kwargs):
        shape = shape if shape is not None else input_shape
        if shape is None and batch_shape is not None:  # Keras' config spells it (batch, *shape)
            batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        if shape is None:
            raise ValueError("InputLayer needs a shape, e.g. Input(shape=(32, 32, 3))")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.batch_shape = (batch_size, *tuple(shape))
        self.built = True
        self._input_shape = self._output_shape = self.batch_shape
        self.output = KerasTensor(self.batch_shape, self.dtype, name=self.name)
        self.output.input_layer = self

    def call(self, inputs):
        return inputs

    def get_config(self):
        return {**super().get_config(), "batch_shape": self.batch_shape}


def Input(shape, batch_size=None, dtype=None, name=None):  # noqa: N802 - Keras' spelling
    """A symbolic input tensor: ``x = Input((32, 32, 3))``."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name).output


class Dense(Layer):
    """y = activation(x @ kernel + bias) on the last axis.

    Runs as its own Function, one GEMM with the bias and a ReLU activation in
    the same pass (``minicnn/ops/dense.py``); it is never fused with a
    neighbouring layer.
    """

    kind = "dense"

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(units, "units", f"Dense '{self.name}'")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        self.kernel = self.add_weight((in_dim, self.units), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = (self.add_weight((self.units,), self.bias_initializer, name="bias",
                                     regularizer=self.bias_regularizer, constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_dim})

    def call(self, inputs):
        fuse_relu = self.activation is activations.relu  # one pass instead of two (ops/dense.py)
        y = dense(inputs, self.kernel, self.bias, relu=fuse_relu)
        return y if fuse_relu else self.activation(y)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                **self.weight_arguments("kernel_initializer", "bias_initializer", "kernel_regularizer",
                                        "bias_regularizer", "kernel_constraint", "bias_constraint")}


class Activation(Layer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def as_relu(self):
        if self.activation is activations.relu:
            return True, None
        if self.activation is activations.relu6:
            return True, 6.0
        return False, None

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Zero a random ``rate`` of the inputs in training, scaling the rest by
    1/(1-rate) so the expected value is unchanged; do nothing at inference.

    The masks come from minicnn's generator (``set_random_seed`` repeats them),
    or, given ``seed=``, from the layer's own generator seeded by it, as in
    Keras: the same seed gives the same masks whatever the global seed. On a
    GPU they are computed on the card (``random.DeviceStream``), so a CUDA
    graph can capture a step with Dropout.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"{type(self).__name__} '{self.name}': rate must be in [0, 1), got {rate}")
        self.rate, self.noise_shape, self.seed = rate, noise_shape, seed
        self._random = RandomSource(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        shape = self.noise_shape or inputs.shape
        shape = tuple(s if s is not None else inputs.shape[i] for i, s in enumerate(shape))
        uniform = self._random.uniform(shape, backend.get_array_module(inputs.data), inputs.dtype)
        mask = (uniform >= self.rate).astype(inputs.dtype)
        mask *= mask.dtype.type(1.0 / (1.0 - self.rate))
        return inputs * as_tensor(mask)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


class Flatten(Layer):
    """(N, H, W, C) -> (N, H·W·C) in row-major (NHWC) order, as Keras."""

    kind = "flatten"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs):
        return math_ops.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))


class Reshape(Layer):
    """Reshape everything but the batch axis; one size may be -1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def compute_output_shape(self, input_shape):
        known = math.prod(s for s in self.target_shape if s != -1)
        total = None if None in input_shape[1:] else math.prod(input_shape[1:])
        if total is None:
            return (input_shape[0], *self.target_shape)
        if -1 in self.target_shape:
            if total % known:
                raise ValueError(self._mismatch(input_shape))
            return (input_shape[0], *[total // known if s == -1 else s for s in self.target_shape])
        if known != total:
            raise ValueError(self._mismatch(input_shape))
        return (input_shape[0], *self.target_shape)

    def _mismatch(self, input_shape):
        return (f"Layer '{self.name}' (Reshape): cannot reshape input of shape {tuple(input_shape)} "
                f"({math.prod(input_shape[1:])} values per sample) to {self.target_shape}.")

    def call(self, inputs):
        out = self.compute_output_shape((None, *inputs.shape[1:]))
        return math_ops.reshape(inputs, (inputs.shape[0], *out[1:]))

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}
