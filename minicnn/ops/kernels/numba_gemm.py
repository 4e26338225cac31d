"""The GEMMs of Conv2D and Dense split across the cores, and their one-pass epilogues.

A convolution is im2col + a GEMM and Dense is a GEMM, (rows, K) @ (K, F). Who
does which part of it on which core matters more than anything else here:

* split over rows (images): each core multiplies its own rows by the whole
  weight matrix, which it packs for BLAS first. Best for many rows and few
  weights (the seed CNN's convolutions): ``numba_conv``'s chunk loop;
* split over the weights: each core computes all rows for its own columns of
  the weights (forward) or its own rows of them (backward), so it packs only
  its part. Best when the weight matrix is at least as large as the input
  (a Dense layer at small batch, ResNet's 1x1 and 3x3 convolutions at 2x2
  pixels): ``gemm_over_weights_forward``/``_backward`` below.

The epilogues run while a block of the output is still in cache: bias, a
residual branch (the Add of a residual block, ``models/fusion.py``) and ReLU
(capped at ``cap`` for ReLU6) forward, and backward ReLU's slope (read off the
output) with the bias gradient's column sums.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .threads import gemm_size, over_batch

# error_model="numpy": a division by zero gives inf or nan, as in NumPy, instead
# of Python's ZeroDivisionError; without that test in every division the
# compiler can turn loops that divide (Adam's update) into vector instructions.
# fastmath=False keeps IEEE float semantics, the same as NumPy's.
_JIT = dict(nogil=True, fastmath=False, error_model="numpy", cache=True)


def _cap(max_value, dtype):
    """(has_cap, cap) as the compiled loops take them: ReLU6's 6, or none."""
    return max_value is not None, dtype.type(0 if max_value is None else max_value)


def _bias(b, units, dtype):
    """The bias in the output's dtype; zeros without one (the kernels then skip adding it)."""
    return np.zeros(units, dtype) if b is None else b.astype(dtype, copy=False)


@njit(**_JIT)
def _bias_add_relu(y, b, has_bias, r, has_residual, relu, has_cap, cap, first, stop):
    """y = relu(y + b + r) in place over columns first..stop-1, row by row (y
    and r are (pixels, C_out)); without ``has_bias`` / ``has_residual`` that
    term is skipped (r is then not read), with ``has_cap`` the ReLU is capped
    at ``cap`` (ReLU6). A core that owns some of the columns passes their range
    instead of a slice: a column slice is not contiguous, and Numba's loops
    over such arrays are not vectorised (3-12x slower here)."""
    first, stop = np.uint64(first), np.uint64(stop)  # unsigned: no test for negative indices in the loop
    for row in range(y.shape[0]):
        for ch in range(first, stop):
            v = y[row, ch] + b[ch] if has_bias else y[row, ch]
            if has_residual:
                v += r[row, ch]
            if relu:
                v = 0 if v < 0 else v  # NaN passes through, as np.maximum
                v = cap if has_cap and v > cap else v
            y[row, ch] = v


@njit(**_JIT)
def _bias_relu(y, b, has_bias, relu, has_cap, cap):
    """y = relu(y + b) in place: ``_bias_add_relu`` without a residual."""
    _bias_add_relu(y, b, has_bias, y, False, relu, has_cap, cap, 0, y.shape[1])


def epilogue(y, b, residual, relu: bool, max_value, columns=None):
    """``_bias_add_relu`` called from Python: y = relu(y + b + residual) in place,
    each term optional (b, residual None: none), nothing done without any; over
    the ``columns`` (first, stop) only if given."""
    if b is not None or residual is not None or relu:
        first, stop = columns or (0, y.shape[1])
        _bias_add_relu(y, _bias(b, y.shape[1], y.dtype), b is not None, y if residual is None else residual,
                       residual is not None, relu, *_cap(max_value, y.dtype), first, stop)


@njit(**_JIT)
def _relu_grad_bias_sum(g, y, relu, has_cap, cap, out, bias_sum):
    """out = g · ReLU's slope read off its output y (1 where 0 < y, and y < cap
    with ``has_cap``), or g itself; bias_sum += out summed over rows (float64)."""
    rows, c = g.shape
    for r in range(rows):
        for ch in range(c):
            v = g[r, ch] if (not relu or (y[r, ch] > 0 and not (has_cap and y[r, ch] >= cap))) else 0
            out[r, ch] = v
            bias_sum[ch] += v


def split_over_weights(rows: int, k: int, w) -> bool:
    """Whether a (rows, K) @ (K, F) GEMM is split over its weights: when the
    weight matrix is at least as large as the input matrix."""
    return w.size >= rows * k


def gemm_over_weights_forward(a, w, b, relu: bool, max_value=None, residual=None):
    """y = [relu](a @ w + b [+ residual]), the output's columns split across the cores."""
    y = np.empty((a.shape[0], w.shape[1]), dtype=np.result_type(a, w))

    def part(lo, hi):  # output columns lo..hi-1
        np.matmul(a, w[:, lo:hi], out=y[:, lo:hi])
        epilogue(y, b, residual, relu, max_value, columns=(lo, hi))

    over_batch(part, w.shape[1], max(w.size, gemm_size(*a.shape, w.shape[1])))
    return y


def gemm_over_weights_backward(g, a, w, y, relu: bool, needs, max_value=None):
    """(da, dw, db) of ``gemm_over_weights_forward``, split along K (the rows of
    w): da[:, k] = g' @ w[k].T, dw[k] = a[:, k].T @ g', with g' the gradient
    before the ReLU."""
    slope_g, db = np.empty_like(g), np.zeros(g.shape[1], np.float64)
    _relu_grad_bias_sum(g, y if relu else g, relu, *_cap(max_value, g.dtype), slope_g, db)
    da = np.empty((g.shape[0], w.shape[0]), g.dtype) if needs[0] else None
    dw = np.empty(w.shape, g.dtype) if needs[1] else None

    def part(lo, hi):  # rows of w lo..hi-1
        if needs[0]:
            np.matmul(slope_g, w[lo:hi].T, out=da[:, lo:hi])
        if needs[1]:
            np.matmul(a[:, lo:hi].T, slope_g, out=dw[lo:hi])

    over_batch(part, w.shape[0], max(w.size, gemm_size(*g.shape, w.shape[0])))
    return da, dw, (db.astype(g.dtype) if needs[2] else None)
