"""The direct DepthwiseConv2D kernel (``numba_depthwise``) computes what the reference computes.

The reference (``ops/depthwise.py``) builds the im2col window matrix and
contracts it with ``einsum``; the kernel loops over output pixels. Hypothesis
draws windows (kernel sizes, strides, dilations, 'same'/'valid' and explicit
pads), depth multipliers, odd sizes, with and without bias and fused ReLU or
ReLU6, in float32 and float64, which gradients are wanted (stride 1 has its
own dx and dw loops), and the batch split over 1-3 threads. The 3x3 stride-1
kernel (``numba_depthwise_3x3``, used from 16 channels) is drawn on its own,
with the channel threshold lowered so that small shapes take it.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn.ops import kernels
from minicnn.ops.depthwise import depthwise_reference_backward, depthwise_reference_forward
from minicnn.ops.kernels import numba_depthwise, numba_depthwise_3x3
from minicnn.ops.shapes import WindowGeometry
from test_kernels_conv import split

case = st.fixed_dictionaries({
    "n": st.integers(1, 4), "h": st.integers(1, 9), "w": st.integers(1, 9), "c": st.integers(1, 6),
    "m": st.integers(1, 3), "kh": st.integers(1, 4), "kw": st.integers(1, 4), "s": st.integers(1, 3),
    "d": st.integers(1, 2), "window": st.sampled_from(["same", "valid", "pads"]),
    "activation": st.sampled_from([None, "relu", "relu6"]), "bias": st.booleans(),
    "dtype": st.sampled_from([np.float32, np.float64]), "parts": st.integers(1, 3), "seed": st.integers(0, 2**16),
    "needs": st.sampled_from([(True, True), (True, False), (False, True)]),  # (dx, dw)
})


def tolerance(dtype, scale):
    """The kernel sums each weight gradient over an image in the data's dtype
    and over the images in float64, the reference all in the data's dtype:
    agreement to the reference's own rounding."""
    eps = 2e-5 if dtype == np.float32 else 1e-12
    return {"rtol": eps, "atol": eps * (1 + scale)}


@settings(max_examples=60, deadline=None)
@given(case)
def test_depthwise_kernel_matches_the_reference(p):
    check_against_reference(p)


nine_tap_case = case.map(lambda p: {**p, "kh": 3, "kw": 3, "s": 1, "d": 1, "m": 1})


@settings(max_examples=40, deadline=None)
@given(nine_tap_case)
def test_the_3x3_kernel_matches_the_reference(p):
    """With the channel threshold at 1, every drawn case runs the nine-tap loops."""
    saved = numba_depthwise_3x3.NINE_TAP_MIN_CHANNELS
    numba_depthwise_3x3.NINE_TAP_MIN_CHANNELS = 1
    try:
        geom = check_against_reference(p)
        assert numba_depthwise_3x3.applies(geom, np.empty((3, 3, p["c"], 1)))
    finally:
        numba_depthwise_3x3.NINE_TAP_MIN_CHANNELS = saved


@pytest.mark.parametrize("kernel, strides, dilation, channels, multiplier, expected", [
    ((3, 3), (1, 1), (1, 1), 16, 1, True), ((3, 3), (1, 1), (1, 1), 15, 1, False),
    ((3, 3), (2, 2), (1, 1), 64, 1, False), ((3, 3), (1, 1), (2, 2), 64, 1, False),
    ((5, 5), (1, 1), (1, 1), 64, 1, False), ((3, 3), (1, 1), (1, 1), 64, 2, False)])
def test_the_3x3_kernel_takes_only_its_window(kernel, strides, dilation, channels, multiplier, expected):
    geom = WindowGeometry.make(9, 9, kernel, strides, "same", dilation)
    w = np.empty((*kernel, channels, multiplier), np.float32)
    assert numba_depthwise_3x3.applies(geom, w) is expected


def check_against_reference(p):
    strides, dilation = (p["s"], p["s"]), (p["d"], p["d"]) if p["s"] == 1 else (1, 1)
    pads = ((p["seed"] % 2, 1), (0, p["seed"] % 3)) if p["window"] == "pads" else None
    try:
        geom = WindowGeometry.make(p["h"], p["w"], (p["kh"], p["kw"]), strides,
                                   "valid" if pads else p["window"], dilation, pads=pads)
    except ValueError:
        assume(False)
    rng = np.random.default_rng(p["seed"])
    x = (rng.standard_normal((p["n"], p["h"], p["w"], p["c"])) * 3).astype(p["dtype"])
    w = rng.standard_normal((p["kh"], p["kw"], p["c"], p["m"])).astype(p["dtype"])
    b = rng.standard_normal(p["c"] * p["m"]).astype(p["dtype"]) if p["bias"] else None
    relu, cap = p["activation"] is not None, (6.0 if p["activation"] == "relu6" else None)
    needs = (*p["needs"], p["bias"])
    with kernels.use("numpy"):
        y_ref, cols = depthwise_reference_forward(x, w, b, geom, relu, True, cap)
        g = rng.standard_normal(y_ref.shape).astype(p["dtype"])
        ref = depthwise_reference_backward(g, x, w, y_ref, cols, geom, relu, needs, cap)
    with split(p["parts"], 1 << 20):
        y = numba_depthwise.depthwise_forward(x, w, b, geom, relu, cap)
        ours = numba_depthwise.depthwise_backward(g, x, w, y_ref, geom, relu, needs, cap)
    assert y.dtype == y_ref.dtype and y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, **tolerance(p["dtype"], np.abs(y_ref).max(initial=0)))
    for a, r in zip(ours, ref, strict=True):
        if r is None:
            assert a is None
            continue
        assert a.dtype == r.dtype and a.shape == r.shape
        np.testing.assert_allclose(a, r, **tolerance(p["dtype"], np.abs(r).max(initial=0)))
    return geom


def test_only_the_wanted_gradients_are_computed():
    geom = WindowGeometry.make(5, 5, (3, 3), (1, 1), "same")
    x, w = np.ones((2, 5, 5, 3), np.float32), np.ones((3, 3, 3, 1), np.float32)
    g = np.ones((2, 5, 5, 3), np.float32)
    dx, dw, db = numba_depthwise.depthwise_backward(g, x, w, None, geom, False, (False, True, False))
    assert dx is None and db is None and dw.shape == w.shape
