"""Conv2D forward as one GEMM per kernel tap, skipping the zero padding; and its backward the same way.

im2col turns a convolution into one GEMM whose rows hold every window, padding
zeros included. On small feature maps the zeros are most of it: a 3x3 'same'
window over a 2x2 map reads 9 positions of which 5 are padding, so 56 % of the
multiply-adds are by zero (31 % over 4x4, 16 % over 8x8). That is where
VGG16's and ResNet50V2's last stages spend their time at small inputs.

Written per tap instead, a convolution is a sum of shifted GEMMs:

    y[n, r, c, :] = b + Σ_{i,j} x[n, r·s + i·d - pad_top, c·s + j·d - pad_left, :] @ w[i, j]

For tap (i, j) only the output pixels whose input pixel lies inside the image
get a term, a rectangle of rows r0..r1 and columns c0..c1 (``_valid_range``),
so each tap is one GEMM of (images · its rectangle's pixels, C_in) @ (C_in,
C_out) added into that rectangle of y: no padding is multiplied and no im2col
matrix is built. The price is one pass over part of y per tap, which is why it
wins only over few pixels and many channels (``pays``; ``python -m
benchmarks.tapwise_conv`` measures both ways).

Backward runs over the same rectangles. With g' the gradient before the ReLU
(g where 0 < y, and y < the cap for ReLU6), each tap contributes

    dx[rectangle's inputs] += g'[rectangle] @ w[i, j]ᵀ
    dw[i, j]              = Σ over its rectangle  x[rectangle's inputs]ᵀ @ g'[rectangle]
    db                    = Σ g'

so neither pass builds an im2col matrix. Conv2D's dispatch
(``numba_conv.conv2d_forward``/``_backward``) sends both passes here for the
layers ``pays`` picks; the batch is split over the cores, and dw and db are
summed per part, then over the parts in a fixed order.
"""
from __future__ import annotations

import numpy as np

from ..shapes import WindowGeometry
from .numba_gemm import _cap, _relu_grad_bias_sum, epilogue
from .threads import gemm_size, over_batch

MAX_PIXELS = 64  # output pixels per image (8x8) above which im2col's single GEMM wins
MIN_CHANNELS = 128  # input channels below which the per-tap GEMMs are too thin


def pays(x, w, geom: WindowGeometry) -> bool:
    """Whether the per-tap GEMMs beat im2col: a padded stride-1 window (with
    stride 2, 'same' pads one side only and there are few zeros to skip) over
    at most 8x8 output pixels and at least 128 input channels."""
    padded = any(p > 0 for side in geom.pads for p in side)
    return (padded and geom.strides == (1, 1) and not geom.is_pointwise and geom.out_h * geom.out_w <= MAX_PIXELS
            and x.shape[3] >= MIN_CHANNELS)


def _valid_range(tap, stride, dilation, pad, size, out_size):
    """The outputs o (a range) whose input o·stride + tap·dilation - pad lies in [0, size)."""
    offset = tap * dilation - pad
    first = max(0, -(offset // stride))  # ceil(-offset / stride)
    last = min(out_size - 1, (size - 1 - offset) // stride)
    return first, last + 1, offset


class _Tap:
    """Kernel tap (i, j): the rectangle of outputs whose input is inside the image."""

    def __init__(self, i, j, rows, cols, geom: WindowGeometry):
        self.i, self.j = i, j
        (self.r0, self.r1, row_offset), (self.c0, self.c1, col_offset) = rows, cols
        sh, sw = geom.strides
        self.input_rows = slice(self.r0 * sh + row_offset, (self.r1 - 1) * sh + row_offset + 1, sh)
        self.input_cols = slice(self.c0 * sw + col_offset, (self.c1 - 1) * sw + col_offset + 1, sw)

    @property
    def size(self):
        return (self.r1 - self.r0) * (self.c1 - self.c0)

    def covers(self, geom) -> bool:
        return self.size == geom.out_h * geom.out_w

    def inputs(self, x):
        """The input pixels this tap reads, (images, rectangle rows, rectangle columns, C_in)."""
        return x[:, self.input_rows, self.input_cols]

    def outputs(self, y):
        return y[:, self.r0:self.r1, self.c0:self.c1]


def _taps(geom: WindowGeometry, height, width) -> list[_Tap]:
    """Every tap with a non-empty rectangle, the largest first."""
    (sh, sw), (dh, dw) = geom.strides, geom.dilation
    taps = []
    for i in range(geom.kernel[0]):
        rows = _valid_range(i, sh, dh, geom.pads[0][0], height, geom.out_h)
        for j in range(geom.kernel[1]):
            cols = _valid_range(j, sw, dw, geom.pads[1][0], width, geom.out_w)
            if rows[0] < rows[1] and cols[0] < cols[1]:
                taps.append(_Tap(i, j, rows, cols, geom))
    return sorted(taps, key=lambda t: t.size, reverse=True)


def tapwise_conv2d_forward(x, w, b, geom: WindowGeometry, relu: bool, max_value=None, residual=None):
    """y = relu(conv2d(x, w) + b [+ residual]) (ReLU optional, capped at ``max_value``), one GEMM per tap."""
    x = np.ascontiguousarray(x)
    n, height, width, c_in = x.shape
    c_out = w.shape[3]
    dtype = np.result_type(x, w)
    y = np.empty((n, geom.out_h, geom.out_w, c_out), dtype=dtype)
    taps = _taps(geom, height, width)
    covers_all = bool(taps) and taps[0].covers(geom)
    residual = None if residual is None else np.ascontiguousarray(residual)

    def part(lo, hi):
        out = y[lo:hi]
        if not covers_all:  # y starts at zero (and stays so where a window sees only padding)
            out[...] = 0
        for k, tap in enumerate(taps):
            rows = np.ascontiguousarray(tap.inputs(x[lo:hi])).reshape(-1, c_in)
            wk = w[tap.i, tap.j]
            if k == 0 and covers_all:  # the largest rectangle is all of y: written, not added
                np.matmul(rows, wk, out=out.reshape(-1, c_out))
            else:
                target = tap.outputs(out)
                target += (rows @ wk).reshape(target.shape)
        epilogue(out.reshape(-1, c_out), b, None if residual is None else residual[lo:hi].reshape(-1, c_out), relu,
                 max_value)

    over_batch(part, n, max(y.size, x.size, gemm_size(n * sum(t.size for t in taps), c_in, c_out)))
    return y


def tapwise_conv2d_backward(g, x, w, y, geom: WindowGeometry, relu: bool, needs, max_value=None):
    """(dx, dw, db) of ``tapwise_conv2d_forward``, each only if ``needs`` asks for it."""
    x = np.ascontiguousarray(x)
    n, height, width, c_in = x.shape
    c_out = w.shape[3]
    dtype = g.dtype
    g = np.ascontiguousarray(g)
    y = np.ascontiguousarray(y) if relu else g
    taps = _taps(geom, height, width)
    dx = np.zeros(x.shape, dtype=dtype) if needs[0] else None

    def part(lo, hi):
        slope_g = np.empty((hi - lo, geom.out_h, geom.out_w, c_out), dtype=dtype)
        db = np.zeros(c_out, np.float64)
        _relu_grad_bias_sum(g[lo:hi].reshape(-1, c_out), y[lo:hi].reshape(-1, c_out), relu,
                            *_cap(max_value, dtype), slope_g.reshape(-1, c_out), db)
        dw = np.zeros(w.shape, dtype=dtype) if needs[1] else None
        for tap in taps:
            g_rect = np.ascontiguousarray(tap.outputs(slope_g)).reshape(-1, c_out)
            if needs[0]:
                target = tap.inputs(dx[lo:hi])
                target += (g_rect @ w[tap.i, tap.j].T).reshape(target.shape)
            if needs[1]:
                dw[tap.i, tap.j] = np.ascontiguousarray(tap.inputs(x[lo:hi])).reshape(-1, c_in).T @ g_rect
        return dw, db

    parts = over_batch(part, n, max(g.size, x.size, gemm_size(n * sum(t.size for t in taps), c_in, c_out)))
    dw = db = None
    if needs[1]:
        dw = parts[0][0]
        for other, _ in parts[1:]:
            dw += other
    if needs[2]:
        db = sum((p[1] for p in parts[1:]), parts[0][1]).astype(dtype)
    return dx, dw, db
