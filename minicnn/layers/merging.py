"""Layers that combine several inputs of one shape: Add, Subtract, Multiply,
Average, Maximum, Minimum (elementwise), and Concatenate (along an axis)."""
from __future__ import annotations

import functools
import operator

from ..autograd import math_ops
from .base import Layer
from .symbolic import KerasTensor


class _Merge(Layer):
    def _check_shapes(self, shapes):
        if not isinstance(shapes, list) or len(shapes) < 2:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs a list of at least 2 inputs, "
                             f"got {shapes!r}")

    def build(self, input_shape):
        self._check_shapes(input_shape)
        first = input_shape[0]
        for s in input_shape[1:]:
            if len(s) != len(first) or any(a not in (None, b) and b is not None and a != b
                                           for a, b in zip(first[1:], s[1:])):
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) needs inputs of the same shape, "
                    f"got {[tuple(x) for x in input_shape]}"
                )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


class Add(_Merge):
    """Elementwise sum (the skip connection of a residual block)."""

    kind = "add"

    def call(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


KerasTensor.add_layer = Add  # ``x + y`` on symbolic tensors (see symbolic.py)


class Subtract(_Merge):
    """inputs[0] - inputs[1]: exactly two inputs, as in Keras."""

    def _check_shapes(self, shapes):
        super()._check_shapes(shapes)
        if len(shapes) != 2:
            raise ValueError(f"Layer '{self.name}' (Subtract) needs exactly 2 inputs, got {len(shapes)}: "
                             f"{[tuple(s) for s in shapes]}")

    def call(self, inputs):
        return inputs[0] - inputs[1]


class Multiply(_Merge):
    def call(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


class Average(_Merge):
    """(x_1 + ... + x_n) / n: the sum first, then one division, as Keras rounds it."""

    def call(self, inputs):
        return functools.reduce(operator.add, inputs) / len(inputs)


class Maximum(_Merge):
    """Elementwise max over the inputs; each value's gradient goes to the input it came from."""

    def call(self, inputs):
        return functools.reduce(math_ops.maximum, inputs)


class Minimum(_Merge):
    """Elementwise min over the inputs; each value's gradient goes to the input it came from."""

    def call(self, inputs):
        return functools.reduce(math_ops.minimum, inputs)


class Concatenate(Layer):
    """Join inputs along ``axis`` (channels, by default)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def build(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f"Layer '{self.name}' (Concatenate) needs a list of at least 2 inputs")
        first = list(input_shape[0])
        axis = self.axis % len(first)
        for s in input_shape[1:]:
            other = list(s)
            if len(other) != len(first) or any(
                    i != axis and a is not None and b is not None and a != b
                    for i, (a, b) in enumerate(zip(first, other))):
                raise ValueError(
                    f"Layer '{self.name}' (Concatenate) needs inputs that match except on axis "
                    f"{self.axis}, got {[tuple(x) for x in input_shape]}"
                )

    def compute_output_shape(self, input_shape):
        out = list(input_shape[0])
        axis = self.axis % len(out)
        sizes = [s[axis] for s in input_shape]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def call(self, inputs):
        return math_ops.concatenate(list(inputs), axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
