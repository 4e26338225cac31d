"""Conv2D as one GEMM per kernel tap (``kernels/tapwise_conv.py``), forward
and backward, against the reference im2col convolution (``ops/conv.py``), over
hypothesis-drawn windows (kernel size, stride, dilation, 'same'/'valid' and
explicit padding, odd sizes), float32 and float64, with bias, ReLU and ReLU6,
and with the batch split over threads; and the dispatch that sends small
padded maps there."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn.ops import kernels
from minicnn.ops.conv import conv2d_reference_backward, conv2d_reference_forward
from minicnn.ops.kernels import numba_conv, tapwise_conv
from minicnn.ops.pool import maxpool_forward
from minicnn.ops.shapes import WindowGeometry
from test_kernels_conv import split
from test_kernels_numba import close

case = st.fixed_dictionaries({
    "n": st.integers(1, 4), "h": st.integers(1, 9), "w": st.integers(1, 9), "c_in": st.integers(1, 6),
    "c_out": st.integers(1, 5), "kh": st.integers(1, 4), "kw": st.integers(1, 4), "sh": st.integers(1, 3),
    "sw": st.integers(1, 3), "dh": st.integers(1, 2), "dw": st.integers(1, 2),
    "padding": st.sampled_from(["valid", "same", "explicit"]), "pads": st.tuples(*[st.integers(0, 2)] * 4),
    "bias": st.booleans(), "activation": st.sampled_from([None, "relu", "relu6"]),
    "dtype": st.sampled_from([np.float32, np.float64]), "parts": st.integers(1, 3), "seed": st.integers(0, 2**16),
})


def geometry(p):
    explicit = p["padding"] == "explicit"
    try:
        return WindowGeometry.make(p["h"], p["w"], (p["kh"], p["kw"]), (p["sh"], p["sw"]),
                                   "valid" if explicit else p["padding"], (p["dh"], p["dw"]),
                                   pads=(p["pads"][:2], p["pads"][2:]) if explicit else None)
    except ValueError:
        assume(False)


@settings(max_examples=60, deadline=None)
@given(case)
def test_tapwise_forward_equals_the_im2col_reference(p):
    geom = geometry(p)
    rng = np.random.default_rng(p["seed"])
    x = rng.standard_normal((p["n"], p["h"], p["w"], p["c_in"])).astype(p["dtype"])
    w = rng.standard_normal((p["kh"], p["kw"], p["c_in"], p["c_out"])).astype(p["dtype"])
    b = rng.standard_normal(p["c_out"]).astype(p["dtype"]) if p["bias"] else None
    relu, cap = p["activation"] is not None, 6.0 if p["activation"] == "relu6" else None
    g = rng.standard_normal((p["n"], geom.out_h, geom.out_w, p["c_out"])).astype(p["dtype"])
    needs = (True, True, p["bias"])
    with kernels.use("numpy"):
        want, cols = conv2d_reference_forward(x, w, b, geom, relu, keep_cols=True, max_value=cap)
        want_grads = conv2d_reference_backward(g, x, w, want, cols, geom, relu, needs, max_value=cap)
    with split(p["parts"], 1 << 20):
        got = tapwise_conv.tapwise_conv2d_forward(x, w, b, geom, relu, max_value=cap)
        # backward reads ReLU's slope off the reference's y, so both cut at the same places
        grads = tapwise_conv.tapwise_conv2d_backward(g, x, w, want, geom, relu, needs, max_value=cap)
    for ours, ref in zip((got, *grads), (want, *want_grads), strict=True):
        if ref is None:
            assert ours is None
        else:
            assert ours.shape == ref.shape and ours.dtype == ref.dtype
            close(ours, ref)


@pytest.mark.parametrize("size, stride, dilation, pad", [(s, st_, d, p) for s in (1, 2, 5) for st_ in (1, 2, 3)
                                                         for d in (1, 2) for p in (0, 1, 2)])
def test_each_taps_output_range_is_exactly_where_its_input_is_inside(size, stride, dilation, pad):
    out_size = (size + 2 * pad - dilation * 2 - 1) // stride + 1
    for tap in range(3):
        first, end, offset = tapwise_conv._valid_range(tap, stride, dilation, pad, size, max(out_size, 0))
        inside = [o for o in range(max(out_size, 0)) if 0 <= o * stride + offset < size]
        assert list(range(first, end)) == inside


def test_small_padded_maps_go_per_tap_in_the_dispatch(monkeypatch):
    """A VGG block-5 shape (2x2 map, 128+ channels) runs per tap, forward and backward, and so does
    the fused Conv2D+ReLU+MaxPool's convolution, with a weight gradient to come or not."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 2, 128)).astype(np.float32)
    w = rng.standard_normal((3, 3, 128, 8)).astype(np.float32) * 0.1
    b = rng.standard_normal(8).astype(np.float32)
    geom = WindowGeometry.make(2, 2, (3, 3), (1, 1), "same")
    assert tapwise_conv.pays(x, w, geom)
    assert not tapwise_conv.pays(x, w, WindowGeometry.make(2, 2, (1, 1), (1, 1), "same"))  # nothing to skip
    calls = []
    real = tapwise_conv.tapwise_conv2d_forward
    monkeypatch.setattr(tapwise_conv, "tapwise_conv2d_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    with kernels.use("numpy"):
        want, _ = conv2d_reference_forward(x, w, b, geom, True, keep_cols=False)
    y, cols = numba_conv.conv2d_forward(x, w, b, geom, True, keep_cols=True)
    assert calls and cols is None
    close(y, want)
    pool_geom = WindowGeometry.make(2, 2, (2, 2), (2, 2), "valid")
    _, _, cols = numba_conv.conv2d_relu_maxpool_forward(x, w, b, geom, pool_geom, keep_cols=True)
    assert len(calls) == 2 and cols is None
    pooled, cells, cols = numba_conv.conv2d_relu_maxpool_forward(x, w, b, geom, pool_geom, keep_cols=False)
    want_pooled, want_cells = maxpool_forward(want, pool_geom)
    assert len(calls) == 3 and cols is None
    close(pooled, want_pooled)
    np.testing.assert_array_equal(cells, want_cells)
