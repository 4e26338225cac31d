"""Conv2D forward as one GEMM per kernel tap, skipping the zero padding.

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
benchmarks.tapwise_conv`` measures both ways). It computes forward only and
keeps no im2col matrix: Conv2D's dispatch (``numba_conv.conv2d_forward``) sends
it the convolutions whose weight gradient nobody wants (``predict``, frozen
layers); backward rebuilds the matrix it needs.
"""
from __future__ import annotations

import numpy as np

from ..shapes import WindowGeometry
from .numba_gemm import _bias, _bias_relu, _cap
from .threads import over_batch

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


def tapwise_conv2d_forward(x, w, b, geom: WindowGeometry, relu: bool, max_value=None):
    """y = relu(conv2d(x, w) + b) (ReLU optional, capped at ``max_value``), one GEMM per tap."""
    x = np.ascontiguousarray(x)
    n, height, width, c_in = x.shape
    kh, kw, _, c_out = w.shape
    dtype = np.result_type(x, w)
    y = np.empty((n, geom.out_h, geom.out_w, c_out), dtype=dtype)
    (sh, sw), (dh, dw) = geom.strides, geom.dilation
    taps = []  # (tap weights, output rows, output columns, where its input starts)
    for i in range(kh):
        r0, r1, row_offset = _valid_range(i, sh, dh, geom.pads[0][0], height, geom.out_h)
        for j in range(kw):
            c0, c1, col_offset = _valid_range(j, sw, dw, geom.pads[1][0], width, geom.out_w)
            if r0 < r1 and c0 < c1:
                taps.append((np.ascontiguousarray(w[i, j]), (r0, r1), (c0, c1), (row_offset, col_offset)))
    # a tap whose rectangle is the whole output writes y first; otherwise y starts at
    # zero (and stays zero where a window sees only padding)
    taps.sort(key=lambda t: (t[1][1] - t[1][0]) * (t[2][1] - t[2][0]), reverse=True)
    covers_all = bool(taps) and taps[0][1] == (0, geom.out_h) and taps[0][2] == (0, geom.out_w)
    bias = _bias(b, c_out, dtype)

    def part(lo, hi):
        out = y[lo:hi]
        if not covers_all:
            out[...] = 0
        for k, (wk, (r0, r1), (c0, c1), (ro, co)) in enumerate(taps):
            inputs = x[lo:hi, r0 * sh + ro:(r1 - 1) * sh + ro + 1:sh, c0 * sw + co:(c1 - 1) * sw + co + 1:sw]
            rows = np.ascontiguousarray(inputs).reshape(-1, c_in)
            if k == 0 and covers_all:
                np.matmul(rows, wk, out=out.reshape(-1, c_out))
            else:
                out[:, r0:r1, c0:c1] += (rows @ wk).reshape(hi - lo, r1 - r0, c1 - c0, c_out)
        if b is not None or relu:
            _bias_relu(out.reshape(-1, c_out), bias, b is not None, relu, *_cap(max_value, dtype))

    over_batch(part, n, max(y.size, x.size))
    return y
