"""Layer arguments in Keras' spellings, checked once, with one wording of the errors.

Keras accepts ``kernel_size=3`` as well as ``(3, 3)``, ``padding='SAME'`` as
well as ``'same'``, and margins as an int, a pair or two pairs. Each helper
turns such an argument into one canonical form, or raises a ``ValueError``
that names the layer, the argument and the value given, at the moment the
layer is made (not later, deep inside a kernel).

``where`` is how a message names the layer, e.g. ``"Conv2D 'conv2d_1'"``.
"""
from __future__ import annotations


def one_of(value, choices, name, where):
    """``value`` itself if it is one of ``choices``; else the error listing them.

    >>> one_of("full", ("valid", "same"), "padding", "Conv2D 'c'")
    Traceback (most recent call last):
    ValueError: Conv2D 'c': padding must be 'valid' or 'same', got 'full'
    """
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
        raise ValueError(f"{where}: {name} must be {listed}, got {value!r}")
    return value


def check_channels_last(data_format, where) -> None:
    """minicnn stores images as (N, H, W, C), Keras' default; it has no channels_first."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{where}: only data_format='channels_last' (NHWC) is supported, got {data_format!r}")


def positive_int(value, name, where) -> int:
    """A count such as filters, units or depth_multiplier: an int of at least 1."""
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return value


def normalize_tuple(value, n, name, where) -> tuple:
    """3 -> (3, 3); (3, 2) stays; anything else is a clear error."""
    given = value
    if isinstance(value, int):
        value = (value,) * n
    value = tuple(value) if isinstance(value, (tuple, list)) else None
    if value is None or len(value) != n or not all(isinstance(v, int) and v >= 1 for v in value):
        raise ValueError(f"{where}: {name} must be a positive int or a tuple of {n} positive ints, got {given!r}")
    return value


def normalize_padding(padding, where) -> str:
    """'valid' or 'same', in any letter case (Keras accepts 'SAME')."""
    return one_of(str(padding).lower(), ("valid", "same"), "padding", where)


def normalize_window(kernel_size, strides, padding, dilation_rate, where):
    """A sliding window's settings, checked: (kernel_size, strides, padding, dilation_rate)."""
    kernel_size = normalize_tuple(kernel_size, 2, "kernel_size", where)
    strides = normalize_tuple(strides, 2, "strides", where)
    dilation_rate = normalize_tuple(dilation_rate, 2, "dilation_rate", where)
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(f"{where}: strides > 1 together with dilation_rate > 1 is not supported (as in Keras)")
    return kernel_size, strides, normalize_padding(padding, where), dilation_rate


def normalize_output_padding(value, strides, where):
    """Conv2DTranspose's ``output_padding``: None (the default: the size is
    inferred), or an int or 2 non-negative ints, each below the stride on its axis
    (Keras' rule: more would be a size that another input size already gives)."""
    if value is None:
        return None
    given = value
    value = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(value) != 2 or not all(isinstance(v, int) and 0 <= v < s for v, s in zip(value, strides)):
        raise ValueError(f"{where}: output_padding must be None or an int or 2 ints, each at least 0 and below the "
                         f"stride on its axis (strides {strides}), got {given!r}")
    return value


def normalize_margins(value, name, where) -> tuple:
    """Keras' three spellings of per-side margins -> ((top, bottom), (left, right)).

    ``1`` -> ((1, 1), (1, 1)); ``(1, 2)`` -> ((1, 1), (2, 2)); ``((1, 0), (2, 3))`` stays.
    """
    if isinstance(value, int):
        value = ((value, value), (value, value))
    elif len(value) == 2 and all(isinstance(v, int) for v in value):
        value = ((value[0], value[0]), (value[1], value[1]))
    value = tuple(tuple(v) for v in value)
    if len(value) != 2 or any(len(v) != 2 or not all(isinstance(i, int) and i >= 0 for i in v) for v in value):
        raise ValueError(f"{where}: {name} must be an int, 2 ints or 2 pairs of non-negative ints, got {value!r}")
    return value
