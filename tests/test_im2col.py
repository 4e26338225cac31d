"""im2col/col2im and the convolution built on them.

* col2im is the adjoint of im2col: <im2col(x), y> = <x, col2im(y)> for any x, y.
* The im2col + GEMM convolution equals a naive nested-loop convolution written
  here from the definition (float64, tight tolerance), for strides, dilation,
  'valid' and 'same' padding, odd and even kernels.
"""
import math

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from minicnn import layers
from minicnn.ops.conv import conv2d
from minicnn.ops.im2col import col2im, im2col
from minicnn.ops.shapes import WindowGeometry

SETTINGS = settings(max_examples=40, deadline=None)

window = st.fixed_dictionaries({
    "n": st.integers(1, 2), "h": st.integers(1, 9), "w": st.integers(1, 9), "c": st.integers(1, 3),
    "kh": st.integers(1, 4), "kw": st.integers(1, 4),
    "sh": st.integers(1, 3), "sw": st.integers(1, 3),
    "dh": st.integers(1, 3), "dw": st.integers(1, 3),
    "padding": st.sampled_from(["valid", "same"]),
})


def make_geometry(p):
    try:
        return WindowGeometry.make(p["h"], p["w"], (p["kh"], p["kw"]), (p["sh"], p["sw"]),
                                   p["padding"], (p["dh"], p["dw"]))
    except ValueError:  # window larger than the input: not a valid draw
        assume(False)


def naive_conv(x, w, b, strides, padding, dilation):
    """out[n, i, j, o] = b[o] + sum over (p, q, c) of x[n, i·s - top + p·d, j·s - left + q·d, c]·w[p, q, c, o]."""
    n, h, wd, _ = x.shape
    kh, kw, _, f = w.shape
    (sh, sw), (dh, dw) = strides, dilation
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "same":
        oh, ow = math.ceil(h / sh), math.ceil(wd / sw)
        top = max((oh - 1) * sh + eh - h, 0) // 2
        left = max((ow - 1) * sw + ew - wd, 0) // 2
    else:
        oh, ow = (h - eh) // sh + 1, (wd - ew) // sw + 1
        top = left = 0
    out = np.zeros((n, oh, ow, f))
    for b_ in range(n):
        for i in range(oh):
            for j in range(ow):
                acc = np.zeros(f) if b is None else b.astype(np.float64).copy()
                for p in range(kh):
                    for q in range(kw):
                        r, c = i * sh - top + p * dh, j * sw - left + q * dw
                        if 0 <= r < h and 0 <= c < wd:  # outside: a zero of the padding
                            acc += x[b_, r, c, :] @ w[p, q]
                out[b_, i, j] = acc
    return out


@SETTINGS
@given(p=window, seed=st.integers(0, 2**16))
def test_col2im_is_the_adjoint_of_im2col(p, seed):
    geom = make_geometry(p)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((p["n"], p["h"], p["w"], p["c"]))
    cols = im2col(x, geom)
    assert cols.shape == (p["n"] * geom.out_h * geom.out_w, p["kh"] * p["kw"] * p["c"])
    y = rng.standard_normal(cols.shape)
    back = col2im(y, x.shape, geom)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(cols, y), np.vdot(x, back), rtol=1e-10, atol=1e-10)


def test_col2im_adds_overlapping_windows():
    """3x3 windows, stride 1, on a 4x4 image: the centre pixels are in 4 windows."""
    geom = WindowGeometry.make(4, 4, (3, 3), (1, 1), "valid")
    counts = col2im(np.ones((4, 9)), (1, 4, 4, 1), geom)[0, :, :, 0]
    np.testing.assert_array_equal(counts, [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])


def test_im2col_rows_are_windows_in_kernel_order():
    x = np.arange(2 * 3 * 3 * 2, dtype=np.float64).reshape(2, 3, 3, 2)
    geom = WindowGeometry.make(3, 3, (2, 2), (1, 1), "valid")
    cols = im2col(x, geom)
    # row for sample 1, output pixel (1, 0): window x[1, 1:3, 0:2, :] flattened (kh, kw, C)
    np.testing.assert_array_equal(cols[1 * 4 + 1 * 2 + 0], x[1, 1:3, 0:2, :].reshape(-1))


@SETTINGS
@given(p=window, f=st.integers(1, 3), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_im2col_conv_equals_naive_loops(p, f, bias, seed):
    assume(max(p["sh"], p["sw"]) == 1 or max(p["dh"], p["dw"]) == 1 or p["padding"] == "valid")
    make_geometry(p)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((p["n"], p["h"], p["w"], p["c"]))
    w = rng.standard_normal((p["kh"], p["kw"], p["c"], f))
    b = rng.standard_normal(f) if bias else None
    strides, dilation = (p["sh"], p["sw"]), (p["dh"], p["dw"])
    got = conv2d(x, w, b, strides, p["padding"], dilation).numpy()
    want = naive_conv(x, w, b, strides, p["padding"], dilation)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(2, 9), w=st.integers(2, 9), k=st.sampled_from([2, 4]), s=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_conv2d_layer_same_padding_even_kernel_matches_naive(float64, h, w, k, s, seed):
    """Even kernels are where Keras' bottom/right extra pixel matters."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, h, w, 3))
    layer = layers.Conv2D(2, k, strides=s, padding="same", bias_initializer="random_normal")
    got = layer(x).numpy()
    assert got.dtype == np.float64
    kernel, b = layer.get_weights()
    np.testing.assert_allclose(got, naive_conv(x, kernel, b, (s, s), "same", (1, 1)), rtol=1e-12, atol=1e-12)


def test_conv2d_layer_dilated_matches_naive(float64):
    x = np.random.default_rng(3).standard_normal((1, 9, 8, 2))
    layer = layers.Conv2D(3, (3, 2), dilation_rate=(2, 3), padding="same")
    layer.build(x.shape)
    kernel, b = layer.get_weights()
    np.testing.assert_allclose(layer(x).numpy(), naive_conv(x, kernel, b, (1, 1), "same", (2, 3)),
                               rtol=1e-12, atol=1e-12)
