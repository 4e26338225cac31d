"""Dense on the CPU: ``ops/dense.py``'s two GEMMs split across the cores.

Overrides (``kernels/__init__.py`` chooses them): ``dense_forward`` and
``dense_backward``. Bias and ReLU are applied in the same pass as the GEMM's
output is written (``numba_conv._bias_relu``). The split depends on the
shapes: a Dense layer with many rows and few weights runs as the pointwise
case of Conv2D's chunk loop (one pixel per image, split over images); one whose
weight matrix is at least as large as its input is split over its weights.
"""
from __future__ import annotations

import numpy as np

from ..shapes import WindowGeometry
from .numba_conv import _backward, _bias, _bias_relu, _forward, _relu_grad_bias_sum
from .threads import over_batch

ONE_PIXEL = WindowGeometry.make(1, 1, (1, 1), (1, 1), "valid")


def _split_over_weights(x2, w) -> bool:
    """Whether a Dense GEMM is split over its weights rather than its rows: when
    the weight matrix is at least as large as the input. Split over rows, each
    core would pack the whole weight matrix for a GEMM with few rows (the seed
    CNN's 4096x128 Dense: 2 MB for 64 rows each); split over the weights'
    columns (forward) and rows (backward), every core packs only its part."""
    return w.size >= x2.size


def dense_forward(x2, w, b, relu: bool):
    """y = [relu](x2 @ w + b) for x2 (rows, F), as ``ops/dense.py``'s reference."""
    x2 = np.ascontiguousarray(x2)
    w = np.ascontiguousarray(w)
    if not _split_over_weights(x2, w):  # many rows: the chunk loop over one-pixel images
        y, _ = _forward(x2.reshape(-1, 1, 1, x2.shape[1]), w.reshape(1, 1, *w.shape), b, ONE_PIXEL,
                        relu, pool=False, keep_cols=False)
        return y.reshape(x2.shape[0], w.shape[1])
    y = np.empty((x2.shape[0], w.shape[1]), dtype=np.result_type(x2, w))
    bias = _bias(b, w.shape[1], y.dtype)

    def part(lo, hi):  # output units lo..hi-1
        np.matmul(x2, w[:, lo:hi], out=y[:, lo:hi])
        if b is not None or relu:
            _bias_relu(y[:, lo:hi], bias[lo:hi], b is not None, relu, False, y.dtype.type(0))

    over_batch(part, w.shape[1], w.size)
    return y


def dense_backward(g2, x2, w, y2, relu: bool, needs):
    """(dx, dw, db) of ``dense_forward``, as ``ops/dense.py``'s reference. Split
    over the weights, dx and dw are cut along the input features f:
    dx[:, f] = g @ w[f].T, dw[f] = x[:, f].T @ g."""
    g2 = np.ascontiguousarray(g2)
    x2 = np.ascontiguousarray(x2)
    w = np.ascontiguousarray(w)
    y2 = np.ascontiguousarray(y2) if relu else g2
    if not _split_over_weights(x2, w):
        def slope_grad(s, e, out, db):
            _relu_grad_bias_sum(g2[s:e], y2[s:e], relu, False, g2.dtype.type(0), out, db)

        gx, gw, gb = _backward(x2.reshape(-1, 1, 1, x2.shape[1]), w.reshape(1, 1, *w.shape), None, ONE_PIXEL,
                               needs, g2.dtype, slope_grad)
        return (None if gx is None else gx.reshape(x2.shape), None if gw is None else gw.reshape(w.shape), gb)
    slope_g, db = np.empty_like(g2), np.zeros(g2.shape[1], np.float64)
    _relu_grad_bias_sum(g2, y2, relu, False, g2.dtype.type(0), slope_g, db)
    gx = np.empty(x2.shape, g2.dtype) if needs[0] else None
    gw = np.empty(w.shape, g2.dtype) if needs[1] else None

    def part(lo, hi):  # input features lo..hi-1
        if needs[0]:
            np.matmul(slope_g, w[lo:hi].T, out=gx[:, lo:hi])
        if needs[1]:
            np.matmul(x2[:, lo:hi].T, slope_g, out=gw[lo:hi])

    over_batch(part, w.shape[0], w.size)
    return gx, gw, (db.astype(g2.dtype) if needs[2] else None)
