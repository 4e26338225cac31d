"""Winograd F(2x2, 3x3) (``numba_winograd``) computes the 3x3 stride-1 convolution the reference computes.

Hypothesis draws sizes (odd ones leave half tiles at the edges), channels,
'same'/'valid'/explicit padding, bias, ReLU and ReLU6, float32 and float64,
1-3 threads and tiny image chunks; the outputs must agree with
``ops/conv.py``'s im2col reference to the rounding of the reordered sums.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn.ops import kernels
from minicnn.ops.conv import conv2d_reference_forward
from minicnn.ops.kernels import numba_winograd
from minicnn.ops.shapes import WindowGeometry
from test_kernels_conv import split

case = st.fixed_dictionaries({
    "n": st.integers(1, 4), "h": st.integers(1, 9), "w": st.integers(1, 9), "c": st.integers(1, 6),
    "f": st.integers(1, 6), "window": st.sampled_from(["same", "valid", "pads"]), "bias": st.booleans(),
    "activation": st.sampled_from([None, "relu", "relu6"]), "dtype": st.sampled_from([np.float32, np.float64]),
    "parts": st.integers(1, 3), "chunk": st.sampled_from([1, 1 << 22]), "seed": st.integers(0, 2**16),
})


@settings(max_examples=60, deadline=None)
@given(case)
def test_winograd_matches_the_reference(p):
    pads = ((p["seed"] % 2, 1), (1, p["seed"] % 3)) if p["window"] == "pads" else None
    try:
        geom = WindowGeometry.make(p["h"], p["w"], (3, 3), (1, 1), "valid" if pads else p["window"], pads=pads)
    except ValueError:
        assume(False)
    assert numba_winograd.applies(geom)
    rng = np.random.default_rng(p["seed"])
    x = rng.standard_normal((p["n"], p["h"], p["w"], p["c"])).astype(p["dtype"])
    w = rng.standard_normal((3, 3, p["c"], p["f"])).astype(p["dtype"])
    b = rng.standard_normal(p["f"]).astype(p["dtype"]) if p["bias"] else None
    relu, cap = p["activation"] is not None, (1.5 if p["activation"] == "relu6" else None)
    with kernels.use("numpy"):
        ref, _ = conv2d_reference_forward(x, w, b, geom, relu, False, cap)
    saved = numba_winograd.CHUNK_BYTES
    numba_winograd.CHUNK_BYTES = p["chunk"]
    try:
        with split(p["parts"], 1 << 20):
            y, cols = numba_winograd.winograd_conv2d_forward(x, w, b, geom, relu, True, cap)
    finally:
        numba_winograd.CHUNK_BYTES = saved
    assert cols is None and y.shape == ref.shape and y.dtype == ref.dtype
    eps = 1e-5 if p["dtype"] == np.float32 else 1e-12
    np.testing.assert_allclose(y, ref, rtol=eps, atol=eps * (1 + np.abs(ref).max(initial=0)) * p["c"])


@pytest.mark.parametrize("kernel, strides, dilation", [((3, 3), (2, 2), (1, 1)), ((3, 3), (1, 1), (2, 2)),
                                                       ((5, 5), (1, 1), (1, 1)), ((1, 1), (1, 1), (1, 1))])
def test_winograd_applies_only_to_3x3_stride_1(kernel, strides, dilation):
    assert not numba_winograd.applies(WindowGeometry.make(9, 9, kernel, strides, "same", dilation))


@pytest.mark.parametrize("batch, side, channels, path", [
    (32, 16, 64, "winograd"), (32, 8, 256, "winograd"), (32, 8, 128, "winograd"), (32, 8, 8, "im2col"),
    (32, 4, 256, "per tap"), (32, 2, 512, "per tap"), (1, 8, 256, "per tap"),
    (1, 8, 64, "split over the weights")])
def test_conv2d_forward_picks_the_path_benchmarks_winograd_measured_fastest(monkeypatch, batch, side, channels, path):
    """``python -m benchmarks.winograd``: Winograd from 8x8 pixels and 16 channels
    (1.4-1.7x the best other path on VGG16's and ResNet's shapes), per tap
    below (level with Winograd at 4x4, 2x at 2x2), the GEMM split over the
    weights when they outweigh the im2col matrix (one image)."""
    from minicnn.ops.kernels import numba_conv, tapwise_conv

    taken = []
    monkeypatch.setattr(numba_winograd, "winograd_conv2d_forward", lambda *a, **k: taken.append("winograd"))
    monkeypatch.setattr(tapwise_conv, "tapwise_conv2d_forward", lambda *a, **k: taken.append("per tap"))
    monkeypatch.setattr(numba_conv, "gemm_over_weights_forward",
                        lambda *a, **k: taken.append("split over the weights") or np.zeros((1, 1)))
    monkeypatch.setattr(numba_conv, "_forward", lambda *a, **k: taken.append("im2col"))
    x = np.zeros((batch, side, side, channels), np.float32)
    w = np.zeros((3, 3, channels, channels), np.float32)
    try:
        numba_conv.conv2d_forward(x, w, None, WindowGeometry.make(side, side, (3, 3), (1, 1), "same"), True)
    except (TypeError, ValueError):  # the stand-ins return nothing usable; only the choice matters
        pass
    assert taken == [path]


@pytest.mark.parametrize("shape, filters", [((2, 8, 8, 16), 24), ((3, 9, 11, 17), 16)])
@pytest.mark.parametrize("activation", [None, "relu", "relu6"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parts", [1, 2])
def test_input_gradient_through_winograd_matches_the_reference(monkeypatch, shape, filters, activation, dtype,
                                                              parts):
    """dx of a 'same' 3x3 layer as the Winograd convolution of g' with the
    turned kernel; dw and db still from the im2col loop, all three as the reference."""
    from minicnn.ops.conv import conv2d_reference_backward
    from minicnn.ops.kernels import numba_conv

    calls = []
    real = numba_winograd.winograd_input_gradient
    monkeypatch.setattr(numba_winograd, "winograd_input_gradient", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(len(shape) + filters)
    x = rng.standard_normal(shape).astype(dtype)
    w = (rng.standard_normal((3, 3, shape[3], filters)) / 6).astype(dtype)
    b = rng.standard_normal(filters).astype(dtype)
    geom = WindowGeometry.make(shape[1], shape[2], (3, 3), (1, 1), "same")
    relu, cap = activation is not None, 6.0 if activation == "relu6" else None
    needs = (True, True, True)
    with kernels.use("numpy"):
        y, cols = conv2d_reference_forward(x, w, b, geom, relu, True, cap)
        g = rng.standard_normal(y.shape).astype(dtype)
        expected = conv2d_reference_backward(g, x, w, y, cols, geom, relu, needs, cap)
    with split(parts, 1 << 20):
        ours = numba_conv.conv2d_backward(g, x, w, y, None, geom, relu, needs, cap)
    assert calls == [1]
    eps = 1e-5 if dtype == np.float32 else 1e-12
    for a, e in zip(ours, expected, strict=True):
        assert a.shape == e.shape and a.dtype == e.dtype
        np.testing.assert_allclose(a, e, rtol=eps, atol=eps * (1 + np.abs(e).max()) * shape[3])


def test_input_gradient_through_winograd_needs_padding_one_all_round():
    same = WindowGeometry.make(8, 8, (3, 3), (1, 1), "same")
    assert numba_winograd.input_gradient_applies(np.zeros((3, 3, 16, 16)), same)
    for padding, pads in (("valid", None), ("valid", ((0, 1), (0, 1))), ("valid", ((1, 1), (0, 2)))):
        geom = WindowGeometry.make(8, 8, (3, 3), (1, 1), padding, pads=pads)
        assert not numba_winograd.input_gradient_applies(np.zeros((3, 3, 16, 16)), geom)
    assert not numba_winograd.input_gradient_applies(np.zeros((3, 3, 16, 8)),
                                                     WindowGeometry.make(8, 8, (3, 3), (1, 1), "same"))
