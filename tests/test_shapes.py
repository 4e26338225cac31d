"""Output sizes of Conv2D / MaxPooling2D / AveragePooling2D against the formulas.

The expected sizes are computed here from the textbook formulas, independently
of ``minicnn/ops/shapes.py``:

    valid:  N_out = floor((N + 2p - k_eff) / s) + 1   with p = 0, k_eff = (k-1)·d + 1
    same:   total padding P = max((ceil(N/s) - 1)·s + k_eff - N, 0),
            P // 2 before, the rest (the extra pixel) after, N_out = ceil(N/s)

and compared with what the layers report (``compute_output_shape``) and what
they really produce on data. Where the padding goes is checked too: a
convolution with an all-ones kernel over an all-ones image counts, at each
output pixel, the real (unpadded) pixels its window covers.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn import layers
from minicnn.ops.im2col import im2col
from minicnn.ops.shapes import WindowGeometry, same_padding

SETTINGS = settings(max_examples=40, deadline=None)


def formula_out(n, k, s, p=0, d=1):
    """N_out = floor((N + 2p - k_eff)/s) + 1."""
    k_eff = (k - 1) * d + 1
    return (n + 2 * p - k_eff) // s + 1


def keras_same_pads(n, k, s, d=1):
    k_eff = (k - 1) * d + 1
    total = max((math.ceil(n / s) - 1) * s + k_eff - n, 0)
    return total // 2, total - total // 2


def expected_size(n, k, s, padding, d=1):
    if padding == "valid":
        return formula_out(n, k, s, 0, d)
    before, after = keras_same_pads(n, k, s, d)
    # the asymmetric padding enters the general formula as 2p = before + after
    out = (n + before + after - ((k - 1) * d + 1)) // s + 1
    assert out == math.ceil(n / s)  # the point of 'same'
    return out


def covered_counts(n, k, s, padding, d=1):
    """For each output position: how many kernel taps land on real pixels."""
    before = keras_same_pads(n, k, s, d)[0] if padding == "same" else 0
    out = expected_size(n, k, s, padding, d)
    return np.array([sum(0 <= i * s - before + t * d < n for t in range(k)) for i in range(out)])


geometry = st.fixed_dictionaries({
    "h": st.integers(1, 12), "w": st.integers(1, 12),
    "kh": st.integers(1, 5), "kw": st.integers(1, 5),
    "sh": st.integers(1, 4), "sw": st.integers(1, 4),
    "padding": st.sampled_from(["valid", "same"]),
})


def fits(g, dh=1, dw=1):
    return (expected_size(g["h"], g["kh"], g["sh"], g["padding"], dh) >= 1
            and expected_size(g["w"], g["kw"], g["sw"], g["padding"], dw) >= 1)


@SETTINGS
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 5), d=st.integers(1, 4))
def test_same_padding_follows_keras_rule(n, k, s, d):
    assert same_padding(n, k, s, d) == keras_same_pads(n, k, s, d)


@SETTINGS
@given(g=geometry, c=st.integers(1, 3), filters=st.integers(1, 3))
def test_conv2d_output_shape_strided(g, c, filters):
    assume(fits(g))
    layer = layers.Conv2D(filters, (g["kh"], g["kw"]), strides=(g["sh"], g["sw"]), padding=g["padding"])
    want = (2, expected_size(g["h"], g["kh"], g["sh"], g["padding"]),
            expected_size(g["w"], g["kw"], g["sw"], g["padding"]), filters)
    out = layer(np.zeros((2, g["h"], g["w"], c), dtype="float32"))
    assert out.shape == want
    assert layer.compute_output_shape((None, g["h"], g["w"], c)) == (None, *want[1:])


@SETTINGS
@given(h=st.integers(1, 14), w=st.integers(1, 14), kh=st.integers(1, 4), kw=st.integers(1, 4),
       dh=st.integers(1, 3), dw=st.integers(1, 3), padding=st.sampled_from(["valid", "same"]))
def test_conv2d_output_shape_dilated(h, w, kh, kw, dh, dw, padding):
    want_h = expected_size(h, kh, 1, padding, dh)
    want_w = expected_size(w, kw, 1, padding, dw)
    assume(want_h >= 1 and want_w >= 1)
    layer = layers.Conv2D(2, (kh, kw), dilation_rate=(dh, dw), padding=padding)
    out = layer(np.zeros((1, h, w, 1), dtype="float32"))
    assert out.shape == (1, want_h, want_w, 2)
    assert layer.compute_output_shape((None, h, w, 1)) == (None, want_h, want_w, 2)


@SETTINGS
@given(g=geometry, pool=st.sampled_from([layers.MaxPooling2D, layers.AveragePooling2D]))
def test_pooling_output_shape(g, pool):
    assume(fits(g))
    layer = pool((g["kh"], g["kw"]), strides=(g["sh"], g["sw"]), padding=g["padding"])
    want = (3, expected_size(g["h"], g["kh"], g["sh"], g["padding"]),
            expected_size(g["w"], g["kw"], g["sw"], g["padding"]), 2)
    out = layer(np.random.default_rng(0).random((3, g["h"], g["w"], 2)).astype("float32"))
    assert out.shape == want
    assert layer.compute_output_shape((None, g["h"], g["w"], 2)) == (None, *want[1:])


@SETTINGS
@given(n=st.integers(1, 12), k=st.integers(1, 5))
def test_pool_strides_default_to_pool_size(n, k):
    assume(n >= k)
    layer = layers.MaxPooling2D(k)
    out = layer(np.zeros((1, n, n, 1), dtype="float32"))
    assert out.shape == (1, formula_out(n, k, k), formula_out(n, k, k), 1)


@SETTINGS
@given(h=st.integers(1, 10), w=st.integers(1, 10), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), d=st.integers(1, 2))
def test_same_padding_puts_extra_pixel_bottom_right(h, w, kh, kw, sh, sw, d):
    """Ones-kernel over ones-image = number of real pixels under each window."""
    assume(d == 1 or (sh == 1 and sw == 1))  # Keras forbids strides>1 with dilation>1
    layer = layers.Conv2D(1, (kh, kw), strides=(sh, sw), dilation_rate=d, padding="same",
                          kernel_initializer="ones", use_bias=False)
    out = layer(np.ones((1, h, w, 1), dtype="float32")).numpy()[0, :, :, 0]
    want = np.outer(covered_counts(h, kh, sh, "same", d), covered_counts(w, kw, sw, "same", d))
    np.testing.assert_array_equal(out, want)


@SETTINGS
@given(h=st.integers(1, 10), w=st.integers(1, 10), k=st.integers(1, 4), s=st.integers(1, 3))
def test_same_max_pool_windows_sit_where_keras_puts_them(h, w, k, s):
    """On x[i, j] = i·W + j the max of a window is its bottom-right real pixel."""
    x = np.arange(h * w, dtype="float32").reshape(1, h, w, 1)
    out = layers.MaxPooling2D(k, strides=s, padding="same")(x).numpy()[0, :, :, 0]
    top, left = keras_same_pads(h, k, s)[0], keras_same_pads(w, k, s)[0]
    last_row = np.minimum(np.arange(out.shape[0]) * s - top + k - 1, h - 1)
    last_col = np.minimum(np.arange(out.shape[1]) * s - left + k - 1, w - 1)
    np.testing.assert_array_equal(out, last_row[:, None] * w + last_col[None, :])


@SETTINGS
@given(h=st.integers(1, 10), k=st.integers(1, 4), s=st.integers(1, 3))
def test_same_average_pool_excludes_padding(h, k, s):
    """The mean of the row indices under each window, padded cells not counted."""
    x = np.broadcast_to(np.arange(h, dtype="float32")[None, :, None, None], (1, h, 3, 1)).copy()
    out = layers.AveragePooling2D((k, 1), strides=(s, 1), padding="same")(x).numpy()[0, :, 0, 0]
    top = keras_same_pads(h, k, s)[0]
    want = [np.mean([r for r in range(i * s - top, i * s - top + k) if 0 <= r < h])
            for i in range(math.ceil(h / s))]
    np.testing.assert_allclose(out, want, rtol=1e-6)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_unknown_spatial_size_propagates_as_none(padding):
    layer = layers.Conv2D(4, 3, strides=2, padding=padding)
    layer.build((None, None, None, 3))
    assert layer.compute_output_shape((None, None, 9, 3)) == (None, None, 4 if padding == "valid" else 5, 4)


@given(h=st.integers(1, 10), w=st.integers(1, 10), kh=st.integers(1, 3), kw=st.integers(1, 3),
       s=st.integers(1, 2), padding=st.sampled_from(["valid", "same"]))
def test_pointwise_windows_map_each_output_pixel_to_one_input_pixel(h, w, kh, kw, s, padding):
    """``is_pointwise`` holds exactly for 1x1 windows at stride 1 (no padding then,
    'same' or not); then im2col of x is x itself, pixel by pixel."""
    try:
        g = WindowGeometry.make(h, w, (kh, kw), (s, s), padding)
    except ValueError:
        assume(False)
    assert g.is_pointwise == ((kh, kw) == (1, 1) and s == 1)
    if g.is_pointwise:
        x = np.arange(2 * h * w * 3, dtype=np.float32).reshape(2, h, w, 3)
        np.testing.assert_array_equal(im2col(x, g), x.reshape(-1, 3))
