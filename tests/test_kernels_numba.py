"""The Numba kernels compute what the reference code in ``minicnn/ops`` computes.

For every override that ``numba_cpu`` provides, hypothesis draws shapes, windows,
strides, dilations and paddings, and the two implementations must agree to
float32 rounding (copies and maxima exactly; sums up to a different order of
additions). Then whole Conv2D / pooling / ReLU forward+backward passes are
compared with ``MINICNN_KERNELS`` switched between ``numpy`` and ``numba``.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn.autograd import Tensor
from minicnn.ops import activation_ops, kernels
from minicnn.ops.conv import conv2d
from minicnn.ops import im2col as windows
from minicnn.ops import pool
from minicnn.ops.kernels import numba_batchnorm, numba_conv, numba_cpu, numba_dense, numba_depthwise
from minicnn.ops.pool import avg_pool2d, max_pool2d
from minicnn.ops.shapes import WindowGeometry
from minicnn.optimizers import Adam

SETTINGS = settings(max_examples=25, deadline=None)

window = st.fixed_dictionaries({
    "n": st.integers(1, 3), "h": st.integers(1, 9), "w": st.integers(1, 9), "c": st.integers(1, 5),
    "kh": st.integers(1, 4), "kw": st.integers(1, 4), "sh": st.integers(1, 3), "sw": st.integers(1, 3),
    "dh": st.integers(1, 2), "dw": st.integers(1, 2), "padding": st.sampled_from(["valid", "same"]),
    "seed": st.integers(0, 2**16),
})

pool_window = window.map(lambda p: {**p, "dh": 1, "dw": 1})  # pooling windows are not dilated


def geometry(p):
    try:
        return WindowGeometry.make(p["h"], p["w"], (p["kh"], p["kw"]), (p["sh"], p["sw"]),
                                   p["padding"], (p["dh"], p["dw"]))
    except ValueError:
        assume(False)


def data(p, *shape, dtype=np.float32):
    return np.random.default_rng(p["seed"]).standard_normal(shape).astype(dtype)


def close(a, b):
    """Equal to float32 rounding, allowing for a different order of additions."""
    np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-6 * (1 + np.abs(b).max(initial=0)))


kernels_env = kernels.use  # the library's own switch


def reference(fn, *args):
    """``fn`` (an im2col or pooling function of ``minicnn.ops``) running its reference code."""
    with kernels.use("numpy"):
        return fn(*args)


def reference_adam(w, g, m, v, v_hat, step, lr, epsilon):
    """``Adam.update``'s reference code, in place, at step ``step``."""
    adam = Adam(lr, epsilon=epsilon, amsgrad=v_hat is not None)
    adam.iterations = step
    with kernels.use("numpy"):
        adam.update(w, g, {"m": m, "v": v, **({} if v_hat is None else {"v_hat": v_hat})}, lr)


def test_every_cpu_override_is_the_numba_kernel_and_numpy_turns_them_off():
    """Guard against a vacuous pass: with the default kernels each CPU override
    named in ``kernels.FAST_PATHS`` is the Numba function these tests check,
    and ``MINICNN_KERNELS=numpy`` turns every one off."""
    x = np.zeros(3, np.float32)
    modules = {"numba_cpu": numba_cpu, "numba_conv": numba_conv, "numba_dense": numba_dense,
               "numba_depthwise": numba_depthwise, "numba_batchnorm": numba_batchnorm}
    for name, (cpu_module, _) in kernels.FAST_PATHS.items():
        with kernels.use("numba"):
            assert kernels.fast_kernel(name, x) is getattr(modules[cpu_module], name)
        with kernels.use("numpy"):
            assert kernels.fast_kernel(name, x) is None


@SETTINGS
@given(window)
def test_im2col_and_col2im(p):
    g = geometry(p)
    x = data(p, p["n"], p["h"], p["w"], p["c"])
    np.testing.assert_array_equal(numba_conv.im2col(x, g), reference(windows.im2col, x, g))
    cols = data(p, p["n"] * g.out_h * g.out_w, p["kh"] * p["kw"] * p["c"])
    close(numba_conv.col2im(cols, x.shape, g), reference(windows.col2im, cols, x.shape, g))


@SETTINGS
@given(window)
def test_max_pooling(p):
    g = geometry(p)
    x = data(p, p["n"], p["h"], p["w"], p["c"])
    x[..., 0] = np.round(x[..., 0])  # ties: the first window cell must win in both
    out, arg = numba_cpu.maxpool_forward(x, g)
    ref_out, ref_arg = reference(pool.maxpool_forward, x, g)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(arg, ref_arg)
    grad = data(p, *out.shape)
    close(numba_cpu.maxpool_backward(grad, arg, x.shape, g),
          reference(pool.maxpool_backward, grad, ref_arg, x.shape, g))


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.integers(0, 99))
def test_max_pooling_2x2_fast_path(n, oh, ow, c, seed):
    """2x2 stride-2 windows use their own loop; odd sizes leave a row/column out."""
    rng = np.random.default_rng(seed)
    h, w = 2 * oh + seed % 2, 2 * ow + (seed // 2) % 2
    g = WindowGeometry.make(h, w, (2, 2), (2, 2), "valid")
    x = rng.integers(-3, 3, size=(n, h, w, c)).astype(np.float32)  # many ties
    out, arg = numba_cpu.maxpool_forward(x, g)
    ref_out, ref_arg = reference(pool.maxpool_forward, x, g)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(arg, ref_arg)
    grad = rng.standard_normal(out.shape).astype(np.float32)
    np.testing.assert_array_equal(numba_cpu.maxpool_backward(grad, arg, x.shape, g),
                                  reference(pool.maxpool_backward, grad, ref_arg, x.shape, g))


@SETTINGS
@given(pool_window)
def test_average_pooling(p):
    g = geometry(p)
    x = data(p, p["n"], p["h"], p["w"], p["c"])
    out = numba_cpu.avgpool_forward(x, g)
    close(out, reference(pool.avgpool_forward, x, g))
    grad = data(p, *out.shape)
    close(numba_cpu.avgpool_backward(grad, x.shape, g), reference(pool.avgpool_backward, grad, x.shape, g))


@SETTINGS
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.integers(0, 99),
       st.sampled_from([np.float32, np.float64]), st.sampled_from([None, 6.0, 0.5]), st.booleans())
def test_relu(shape, seed, dtype, max_value, keep_mask):
    """ReLU and ReLU6 against the reference code of ``activation_ops.ReLU``, at the
    kinks (0 and the cap) and for NaN; the mask only when asked for."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    x.flat[0] = 0.0  # the kink: slope 0, as the reference
    if x.size > 1:
        x.flat[1] = 6.0 if max_value is None else max_value  # the cap: slope 0
    if x.size > 2:
        x.flat[2] = np.nan
    reference_relu = activation_ops.ReLU(max_value=max_value)
    with kernels.use("numpy"):
        ref_y = reference_relu.forward(x)
    y, mask = numba_cpu.relu_forward(x, max_value, keep_mask)
    np.testing.assert_array_equal(y, ref_y)
    if not keep_mask:
        assert mask is None
        return
    np.testing.assert_array_equal(mask, reference_relu.slope)
    g = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(numba_cpu.relu_backward(g, mask), g * reference_relu.slope)


@SETTINGS
@given(st.integers(1, 300), st.integers(1, 5), st.booleans(), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 99))
def test_adam_update(size, steps, amsgrad, dtype, seed):
    rng = np.random.default_rng(seed)
    state = {impl: [rng.standard_normal(size).astype(dtype)] for impl in ("numba", "numpy")}
    state["numpy"] = [state["numba"][0].copy()]
    for impl in state:
        w = state[impl][0]
        state[impl] += [np.zeros_like(w), np.zeros_like(w), np.zeros_like(w) if amsgrad else None]
    for t in range(1, steps + 1):
        g = rng.standard_normal(size).astype(dtype)
        alpha = 1e-2 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)  # a Python float, as in Adam
        numba_cpu.adam_update(*state["numba"][:1], g, *state["numba"][1:], alpha, 0.9, 0.999, 1e-7)
        reference_adam(*state["numpy"][:1], g, *state["numpy"][1:], t, 1e-2, 1e-7)
    for ours, ref in zip(state["numba"], state["numpy"]):
        if ref is not None:
            np.testing.assert_allclose(ours, ref, rtol=4e-7 if dtype == np.float32 else 1e-15, atol=0)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_divides_by_zero_as_numpy_does(amsgrad):
    """epsilon=0 with a zero gradient divides 0 by 0: NaN in NumPy, and so in the
    kernels (compiled with error_model="numpy", not Python's ZeroDivisionError)."""
    state = {impl: [np.array([1.0, 2.0], np.float32), np.zeros(2, np.float32), np.zeros(2, np.float32),
                    np.zeros(2, np.float32) if amsgrad else None] for impl in ("numba", "numpy")}
    g = np.array([0.0, 1.0], np.float32)
    numba_cpu.adam_update(*state["numba"][:1], g, *state["numba"][1:], 1e-3, 0.9, 0.999, 0.0)
    with np.errstate(invalid="ignore"):
        reference_adam(*state["numpy"][:1], g, *state["numpy"][1:], 1, 1e-3 * (1 - 0.9) / math.sqrt(1 - 0.999), 0.0)
    assert np.isnan(state["numba"][0][0]) and np.isfinite(state["numba"][0][1])
    np.testing.assert_array_equal(state["numba"][0], state["numpy"][0])


def run_layer(op, x, weights=()):
    """Forward and backward through ``op``; returns the output and all gradients."""
    tensors = [Tensor(a.copy(), requires_grad=True) for a in (x, *weights)]
    y = op(*tensors)
    g = np.random.default_rng(7).standard_normal(y.shape).astype(x.dtype)
    y.backward(g)
    return [y.data] + [t.grad for t in tensors]


@SETTINGS
@given(window, st.integers(1, 4))
def test_whole_conv_and_pools_with_kernels_switched(p, filters):
    geometry(p)  # skips windows that do not fit
    x = data(p, p["n"], p["h"], p["w"], p["c"])
    w = data(p, p["kh"], p["kw"], p["c"], filters)
    b = data(p, filters)
    ops = [
        (lambda x, w, b: conv2d(x, w, b, (p["sh"], p["sw"]), p["padding"], (p["dh"], p["dw"])), (w, b)),
        (lambda x: activation_ops.ReLU()(x), ()),
    ]
    if p["dh"] == p["dw"] == 1:  # pooling has no dilation
        ops += [(lambda x: max_pool2d(x, (p["kh"], p["kw"]), (p["sh"], p["sw"]), p["padding"]), ()),
                (lambda x: avg_pool2d(x, (p["kh"], p["kw"]), (p["sh"], p["sw"]), p["padding"]), ())]
    for op, weights in ops:
        with kernels_env("numpy"):
            ref = run_layer(op, x, weights)
        with kernels_env("numba"):
            ours = run_layer(op, x, weights)
        for a, b_ in zip(ours, ref):
            close(a, b_)
