"""Every numba.cuda kernel against the NumPy reference, in Numba's CUDA simulator.

CI has no GPU, but the simulator (``NUMBA_ENABLE_CUDASIM=1``, from the
``numba-cuda`` package) runs a ``@cuda.jit`` kernel on the CPU: each GPU
thread becomes a Python thread that sees the same ``cuda.grid``,
``cuda.gridsize`` and array indexing. Index arithmetic, bounds tests and the
gather form of the adjoints are checked here exactly as they will run on a GPU
(what the simulator cannot check - speed, real memory - ``tests/test_gpu.py``
does on a GPU machine).

The simulator must be switched on before Numba's CUDA target is imported, and
other tests in the same pytest process use Numba's CPU JIT. So this file runs
itself in a fresh interpreter with the variable set: in the normal run only
``test_cuda_kernels_in_the_simulator`` is collected; in the child run the
kernel tests are. Shapes are tiny: the simulator is ~10^5 times slower than a GPU.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"

if not SIMULATED:
    def test_cuda_kernels_in_the_simulator():
        pytest.importorskip("numba.cuda", reason="Numba's CUDA target (pip install numba-cuda) is not installed")
        root = Path(__file__).resolve().parents[1]
        env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(root)}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                               str(Path(__file__).resolve())],
                              cwd=root, env=env, capture_output=True, text=True, timeout=900)
        report = proc.stdout[-6000:] + proc.stderr[-3000:]
        print(report)
        assert proc.returncode == 0 and " passed" in proc.stdout, report

else:
    os.environ["MINICNN_KERNELS"] = "numpy"  # the reference code, to compare the CUDA kernels with
    from minicnn.ops import im2col as windows
    from minicnn.ops import pool
    from minicnn.ops.kernels import cuda_kernels
    from minicnn.ops.shapes import WindowGeometry
    from minicnn.optimizers import Adam

    assert cuda_kernels.SIMULATED, "NUMBA_ENABLE_CUDASIM=1 but numba.cuda is not the simulator"
    SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None)
    dtypes = st.sampled_from([np.float32, np.float64])

    @st.composite
    def sweeps(draw, dilated=True):
        """A small window sweep over a small NHWC input, and the input."""
        n, h, w, c = (draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 6)),
                      draw(st.integers(1, 3)))
        kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilated else (1, 1)
        padding = draw(st.sampled_from(["same", "valid"]))
        try:
            geom = WindowGeometry.make(h, w, kernel, strides, padding, dilation)
        except ValueError:  # a 'valid' window larger than the input
            assume(False)
        dtype = draw(dtypes)
        # small integers make ties in max pooling common: the tie rule is checked too
        x = draw(st.integers(0, 2**31 - 1).map(
            lambda s: np.random.default_rng(s).integers(-3, 4, (n, h, w, c)).astype(dtype)))
        return x, geom

    def tol(dtype):
        return {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}

    def rand_like(shape, dtype, seed=0):
        return np.random.default_rng(seed).standard_normal(shape).astype(dtype)

    @SETTINGS
    @given(sweeps())
    def test_im2col_and_col2im(case):
        x, geom = case
        expected = windows.im2col(x, geom)
        cols = np.empty_like(expected)
        cuda_kernels.im2col(x, cols, geom)
        np.testing.assert_array_equal(cols, expected)
        dcols = rand_like(cols.shape, x.dtype)
        out = np.empty_like(x)
        cuda_kernels.col2im(dcols, out, geom)
        np.testing.assert_allclose(out, windows.col2im(dcols, x.shape, geom), **tol(x.dtype))

    @SETTINGS
    @given(sweeps(dilated=False))
    def test_max_pooling(case):
        x, geom = case
        want_out, want_arg = pool.maxpool_forward(x, geom)
        out, arg = np.empty_like(want_out), np.empty(want_out.shape, dtype=np.int32)
        cuda_kernels.maxpool_forward(x, out, arg, geom)
        np.testing.assert_array_equal(out, want_out)
        np.testing.assert_array_equal(arg, want_arg)
        g = rand_like(out.shape, x.dtype)
        dx = np.empty_like(x)
        cuda_kernels.maxpool_backward(g, arg, dx, geom)
        np.testing.assert_allclose(dx, pool.maxpool_backward(g, want_arg, x.shape, geom), **tol(x.dtype))

    def test_max_pooling_nan_and_padding_follow_argmax():
        """A NaN wins its window; a window of -inf picks its first cell, padded or not."""
        x = np.array([[np.nan, 1.0], [-np.inf, -np.inf]], np.float32).reshape(1, 2, 2, 1)
        geom = WindowGeometry.make(2, 2, (2, 2), (1, 1), "same")
        want_out, want_arg = pool.maxpool_forward(x, geom)
        out, arg = np.empty_like(want_out), np.empty(want_out.shape, dtype=np.int32)
        cuda_kernels.maxpool_forward(x, out, arg, geom)
        np.testing.assert_array_equal(out, want_out)
        np.testing.assert_array_equal(arg, want_arg)

    @SETTINGS
    @given(sweeps(dilated=False))
    def test_average_pooling(case):
        x, geom = case
        expected = pool.avgpool_forward(x, geom)
        out = np.empty_like(expected)
        cuda_kernels.avgpool_forward(x, out, geom)
        np.testing.assert_allclose(out, expected, **tol(x.dtype))
        g = rand_like(out.shape, x.dtype)
        dx = np.empty_like(x)
        cuda_kernels.avgpool_backward(g, dx, geom)
        np.testing.assert_allclose(dx, pool.avgpool_backward(g, x.shape, geom), **tol(x.dtype))

    @SETTINGS
    @given(st.integers(1, 40), dtypes, st.integers(0, 2**31 - 1))
    def test_relu(size, dtype, seed):
        x = np.random.default_rng(seed).integers(-2, 3, size).astype(dtype)  # zeros included
        x[0] = np.nan
        want_y, want_mask = np.maximum(x, 0), x > 0  # ReLU's reference (ops/activation_ops.py)
        y, mask = np.empty_like(x), np.empty(x.shape, dtype=np.bool_)
        cuda_kernels.relu_forward(x, y, mask)
        np.testing.assert_array_equal(y, want_y)
        np.testing.assert_array_equal(mask, want_mask)
        g = rand_like(x.shape, dtype, seed)
        out = np.empty_like(g)
        cuda_kernels.relu_backward(g, mask, out)
        np.testing.assert_array_equal(out, g * want_mask)

    @SETTINGS
    @given(st.integers(1, 30), dtypes, st.booleans(), st.booleans(), st.integers(1, 50),
           st.integers(0, 2**31 - 1))
    def test_adam_update(size, dtype, amsgrad, alpha_on_device, step, seed):
        rng = np.random.default_rng(seed)
        w, g, m = (rng.standard_normal(size).astype(dtype) for _ in range(3))
        v = rng.random(size).astype(dtype)
        v_hat = rng.random(size).astype(dtype) if amsgrad else None
        alpha = 1e-3 * np.sqrt(1 - 0.999**step) / (1 - 0.9**step)
        want = [a.copy() for a in (w, m, v)] + [None if v_hat is None else v_hat.copy()]
        adam = Adam(1e-3, amsgrad=amsgrad)  # its update runs the reference code here (MINICNN_KERNELS=numpy)
        adam.iterations = step
        slots = {"m": want[1], "v": want[2], **({"v_hat": want[3]} if amsgrad else {})}
        adam.update(want[0], g, slots, 1e-3)
        cuda_kernels.adam_update(w, g, m, v, v_hat, np.array([alpha], dtype) if alpha_on_device else alpha,
                                 0.9, 0.999, 1e-7)
        for got, expected in zip((w, m, v, v_hat), want):
            if expected is not None:
                np.testing.assert_allclose(got, expected, **tol(dtype))
