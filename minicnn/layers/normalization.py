"""BatchNormalization with Keras 3's semantics.

In training (``fit``) each channel is normalised with the statistics of the
current batch, then scaled by γ and shifted by β (both learned). The layer also
keeps exponential moving averages of the batch statistics::

    moving_mean = moving_mean · momentum + batch_mean · (1 - momentum)     (momentum 0.99)

and uses those at inference (``predict``/``evaluate``), so one image's output
does not depend on the rest of its batch. The moving statistics are weights
(saved, loaded, counted in ``count_params``) but never trainable: no gradient
reaches them, and ``summary()`` lists them under Non-trainable params.

A frozen BatchNormalization (``trainable = False``, directly or through a
frozen parent model) runs in inference mode even during ``fit`` — Keras 3's
rule, and what fine-tuning a pretrained backbone needs: its statistics stay the
ones it was trained with.
"""
from __future__ import annotations

from .. import constraints, initializers
from ..autograd import Tensor, grad_enabled, math_ops
from ..backend import get_array_module
from ..ops.batchnorm import BatchNormFunction
from .base import InputSpec, Layer


class BatchNormalization(Layer):
    kind = "batch_norm"

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise ValueError(f"BatchNormalization '{self.name}': axis must be one int, got {axis!r}")
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.input_spec = InputSpec(min_ndim=2)
        self._folded = None  # (key, kernel, bias): the last fold_into result (see there)

    def build(self, input_shape):
        rank = len(input_shape)
        axis = self.axis % rank
        if axis == 0:
            raise ValueError(f"BatchNormalization '{self.name}': axis cannot be the batch axis")
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(f"BatchNormalization '{self.name}': the normalised axis {self.axis} of input "
                             f"shape {tuple(input_shape)} must have a known size")
        shape = (channels,)
        # Keras' order: gamma, beta, moving_mean, moving_variance
        self.gamma = (self.add_weight(shape, self.gamma_initializer, name="gamma",
                                      regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
                      if self.scale else None)
        self.beta = (self.add_weight(shape, self.beta_initializer, name="beta",
                                     regularizer=self.beta_regularizer, constraint=self.beta_constraint)
                     if self.center else None)
        self.moving_mean = self.add_weight(shape, self.moving_mean_initializer, name="moving_mean",
                                           trainable=False)
        self.moving_variance = self.add_weight(shape, self.moving_variance_initializer,
                                               name="moving_variance", trainable=False)
        self._reduction_axes = tuple(i for i in range(rank) if i != axis)
        self._broadcast = tuple(channels if i == axis else 1 for i in range(rank))
        self.input_spec = InputSpec(ndim=rank, axes={axis: channels})

    def _affine(self, weight, fill, inputs):
        """γ or β shaped to broadcast over the input (a constant when disabled)."""
        if weight is None:
            xp = get_array_module(inputs.data)
            return Tensor(xp.full(self._broadcast, fill, dtype=inputs.dtype))
        if self.axis % len(self._broadcast) == len(self._broadcast) - 1:
            return weight  # channels last: (C,) already broadcasts
        return math_ops.reshape(weight, self._broadcast)

    def call(self, inputs, training=False):
        if not (training and self.trainable):
            return self.call_fused(inputs)
        return self.call_batch_statistics(inputs)

    def call_batch_statistics(self, inputs, relu=False, max_value=None):
        """This layer in training mode: normalised with the batch's statistics,
        which update the moving ones. With ``relu``, the ReLU (capped at
        ``max_value``) that follows it in a graph is applied in the same pass,
        and its slope in the same pass of backward (``models/fusion.py``)."""
        inputs = self._to_tensor(inputs)
        fn = BatchNormFunction(self._reduction_axes, self.epsilon, relu=relu, max_value=max_value)
        out = fn(inputs, self._affine(self.gamma, 1.0, inputs), self._affine(self.beta, 0.0, inputs))
        m = self.momentum
        self.moving_mean.assign(self.moving_mean.data * m + fn.batch_mean.reshape(-1) * (1.0 - m))
        self.moving_variance.assign(self.moving_variance.data * m + fn.batch_var.reshape(-1) * (1.0 - m))
        return out

    def call_fused(self, inputs, relu=False, max_value=None):
        """This layer in inference mode (its moving statistics), with the ReLU
        (capped at ``max_value``) that follows it in a graph applied in the same
        pass when ``relu`` (``models/fusion.py``; ResNetV2's pre-activation BN -> ReLU)."""
        inputs = self._to_tensor(inputs)
        gamma = self._affine(self.gamma, 1.0, inputs)
        beta = self._affine(self.beta, 0.0, inputs)
        stats = (self.moving_mean.data.reshape(self._broadcast), self.moving_variance.data.reshape(self._broadcast))
        return BatchNormFunction(self._reduction_axes, self.epsilon, stats, relu, max_value)(inputs, gamma, beta)

    def inference_affine(self):
        """(scale, shift), Tensors of shape (C,), with which this layer in
        inference mode is x·scale + shift: scale = γ/sqrt(moving_var + ε),
        shift = β - moving_mean·scale. Built from Tensor operations, so a
        trainable γ or β gets its gradient through them (``models/fusion.py``
        folds them into the convolution before this layer)."""
        xp = get_array_module(self.moving_variance.data)
        inv = Tensor(1.0 / xp.sqrt(self.moving_variance.data + self.moving_variance.dtype.type(self.epsilon)))
        scale = inv if self.gamma is None else self.gamma * inv
        shift = -self.moving_mean.data * scale
        if self.beta is not None:
            shift = shift + self.beta
        return scale, shift

    def fold_into(self, kernel, bias, channel_shape):
        """The kernel and bias of a convolution followed by this layer in
        inference mode, as one: w·s and b·s + t (s, t: ``inference_affine``),
        with s laid out as ``channel_shape``, the kernel's output-channel axes
        ((filters,) for Conv2D, (C, depth_multiplier) for DepthwiseConv2D).

        When no gradient is being recorded for any of them (predict, a frozen
        base), the result is cached and reused until a weight or statistic
        changes (their ``Variable.version``): folding reads every weight, which
        for a large model costs as much as a small layer. The saved weights are
        never changed."""
        sources = [v for v in (kernel, bias, self.gamma, self.beta, self.moving_mean, self.moving_variance)
                   if v is not None]
        recording = grad_enabled() and any(v.requires_grad for v in sources)
        key = tuple((id(v), v.version) for v in sources) + (channel_shape,)
        if not recording and self._folded is not None and self._folded[0] == key:
            return self._folded[1:]
        scale, shift = self.inference_affine()
        folded_kernel = kernel * math_ops.reshape(scale, channel_shape)
        folded_bias = shift if bias is None else bias * scale + shift
        if not recording:
            self._folded = (key, folded_kernel, folded_bias)
        return folded_kernel, folded_bias

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                **self.weight_arguments("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                                        "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                                        "beta_constraint", "gamma_constraint")}
