"""Activation functions as layers with their own settings: ReLU, LeakyReLU and Softmax.

``Activation('relu')`` covers the plain cases; these layers take the extra
arguments Keras gives them (MobileNet's ``ReLU(6.)`` is relu capped at 6,
``LeakyReLU()`` lets 0.3·x through below zero).
"""
from __future__ import annotations

from .. import activations
from .base import Layer


class ReLU(Layer):
    """max(x, threshold) style rectifier::

        f(x) = max_value                        for x >= max_value
             = x                                for threshold < x < max_value
             = negative_slope · (x - threshold) otherwise
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU '{self.name}': max_value must be >= 0 or None, got {max_value}")
        if negative_slope < 0:
            raise ValueError(f"ReLU '{self.name}': negative_slope must be >= 0, got {negative_slope}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope, self.threshold = float(negative_slope), float(threshold)

    def call(self, inputs):
        return activations.relu(inputs, negative_slope=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def as_relu(self):
        if self.negative_slope == 0 and self.threshold == 0:
            return True, self.max_value
        return False, None

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer):
    """f(x) = x for x >= 0, negative_slope · x otherwise (Keras 3's default slope: 0.3).

    The same Function as ``ReLU(negative_slope=...)``: backward multiplies the
    gradient by 1 or by ``negative_slope``. Keras 2's ``alpha=`` is accepted as
    the old name of ``negative_slope``, as Keras 3 does.
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        negative_slope = kwargs.pop("alpha", negative_slope)
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"LeakyReLU '{self.name}': negative_slope must be a float >= 0, got {negative_slope}")
        self.negative_slope = float(negative_slope)

    def call(self, inputs):
        return activations.leaky_relu(inputs, negative_slope=self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """exp(x) / Σ exp(x) along ``axis`` (numerically stable)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return activations.softmax(inputs, axis=self.axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
