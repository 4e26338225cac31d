"""Dense on the CPU: ``ops/dense.py``'s two GEMMs split across the cores.

Overrides (``kernels/__init__.py`` chooses them): ``dense_forward`` and
``dense_backward``. Bias and ReLU are applied in the same pass as the GEMM's
output is written. The split depends on the shapes (``numba_gemm.py`` says
why): a Dense layer with many rows and few weights runs as the pointwise case
of Conv2D's chunk loop (one pixel per image, split over images); one whose
weight matrix is at least as large as its input is split over its weights.
"""
from __future__ import annotations

import numpy as np

from ..shapes import WindowGeometry
from .numba_conv import _backward, _forward
from .numba_gemm import _cap, _relu_grad_bias_sum, gemm_over_weights_backward, gemm_over_weights_forward, split_over_weights

ONE_PIXEL = WindowGeometry.make(1, 1, (1, 1), (1, 1), "valid")


def dense_forward(x2, w, b, relu: bool, max_value=None):
    """y = [relu](x2 @ w + b) for x2 (rows, F), as ``ops/dense.py``'s reference."""
    x2 = np.ascontiguousarray(x2)
    w = np.ascontiguousarray(w)
    if split_over_weights(*x2.shape, w):
        return gemm_over_weights_forward(x2, w, b, relu, max_value)
    y, _ = _forward(x2.reshape(-1, 1, 1, x2.shape[1]), w.reshape(1, 1, *w.shape), b, ONE_PIXEL,
                    relu, pool=False, keep_cols=False, max_value=max_value)
    return y.reshape(x2.shape[0], w.shape[1])


def dense_backward(g2, x2, w, y2, relu: bool, needs, max_value=None):
    """(dx, dw, db) of ``dense_forward``, as ``ops/dense.py``'s reference."""
    g2 = np.ascontiguousarray(g2)
    x2 = np.ascontiguousarray(x2)
    w = np.ascontiguousarray(w)
    y2 = np.ascontiguousarray(y2) if relu else g2
    if split_over_weights(*x2.shape, w):
        return gemm_over_weights_backward(g2, x2, w, y2, relu, needs, max_value)

    def slope_grad(s, e, out, db):
        _relu_grad_bias_sum(g2[s:e], y2[s:e], relu, *_cap(max_value, g2.dtype), out, db)

    gx, gw, gb = _backward(x2.reshape(-1, 1, 1, x2.shape[1]), w.reshape(1, 1, *w.shape), None, ONE_PIXEL,
                           needs, g2.dtype, slope_grad)
    return (None if gx is None else gx.reshape(x2.shape), None if gw is None else gw.reshape(w.shape), gb)
