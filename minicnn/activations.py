"""Activation functions by name, as Keras offers them (``activations.get``).

Each takes and returns a Tensor. ``softmax`` and ``sigmoid`` remember their
input logits on the output (``keras_logits``) so that a cross-entropy loss can
work from the logits, which is more accurate; Keras does the same.
"""
from __future__ import annotations

from .autograd import as_tensor
from .ops import activation_ops


def linear(x):
    return as_tensor(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    return activation_ops.ReLU(negative_slope, max_value, threshold)(x)


def relu6(x):
    return activation_ops.ReLU(max_value=6.0)(x)


def leaky_relu(x, negative_slope=0.2):
    return activation_ops.ReLU(negative_slope=negative_slope)(x)


def elu(x, alpha=1.0):
    return activation_ops.ELU(alpha)(x)


def gelu(x, approximate=False):
    return activation_ops.GELU(approximate)(x)


def tanh(x):
    return activation_ops.Tanh()(x)


def sigmoid(x):
    x = as_tensor(x)
    y = activation_ops.Sigmoid()(x)
    y.keras_logits = x
    return y


def softmax(x, axis=-1):
    x = as_tensor(x)
    y = activation_ops.Softmax(axis)(x)
    y.keras_logits = x
    return y


_BY_NAME = {
    "linear": linear, "relu": relu, "relu6": relu6, "leaky_relu": leaky_relu,
    "elu": elu, "gelu": gelu, "tanh": tanh, "sigmoid": sigmoid, "softmax": softmax,
}


def get(identifier):
    """The activation function for a name, a callable, or None (linear)."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"Unknown activation {identifier!r}. Valid names: {sorted(_BY_NAME)}")


def serialize(fn) -> str:
    """The name of a built-in activation (used by ``get_config``)."""
    for name, f in _BY_NAME.items():
        if f is fn:
            return name
    return getattr(fn, "__name__", repr(fn))


__all__ = ["get", "serialize", *_BY_NAME]
