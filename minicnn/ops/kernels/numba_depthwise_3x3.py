"""DepthwiseConv2D's most common window, 3x3 with stride 1: nine products per output value.

Most depthwise layers of MobileNet, MobileNetV2 and Xception run a 3x3 window
with stride 1, over 16 to 1,536 channels. The row kernels (``numba_depthwise_rows.py``) add one tap at
a time into the output row, so each output value is loaded and stored nine
times. Here each output pixel is written once, as the sum of its nine window
cells times their weights, the C channels innermost (vectorised)::

    y[n, i, j, c] = Σ_(a,b in 0..2) x[n, i + a - top, j + b - left, c] · w[a, b, c]

Pixels whose window leaves the image (the border) add the taps that exist one
at a time. With few channels (8 over 48x48 pixels) the row kernels win, the
per-pixel overhead outweighing the stores saved: ``NINE_TAP_MIN_CHANNELS`` is
where the alternated timings of ``python -m benchmarks.depthwise`` cross.

The same loop computes dx for stride 1: the input gradient is this
correlation of g with the window turned by 180 degrees and the padding on
the other side (``nine_tap_input_grad``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..shapes import WindowGeometry
from .numba_gemm import _JIT, _bias_relu

NINE_TAP_MIN_CHANNELS = 16


def applies(geom: WindowGeometry, w) -> bool:
    """3x3, stride 1, no dilation, one filter per channel, enough channels."""
    return (geom.kernel == (3, 3) and geom.strides == (1, 1) and geom.dilation == (1, 1)
            and w.shape[3] == 1 and w.shape[2] >= NINE_TAP_MIN_CHANNELS)


@njit(**_JIT)
def nine_taps(x, w, b, y, has_bias, relu, has_cap, cap, top, left):
    """y (N, oh, ow, C) from x (N, h, w, C) and w (3, 3, C): output pixel (i, j)
    reads input rows i - top .. i - top + 2 and columns j - left .. j - left + 2;
    then bias and ReLU (capped) over each row while it is in cache."""
    n, h, wd, c = x.shape
    oh, ow = y.shape[1], y.shape[2]
    for img in range(n):
        for yo in range(oh):
            r = yo - top
            for xo in range(ow):
                s = xo - left
                out = y[img, yo, xo]
                if r >= 0 and r + 2 < h and s >= 0 and s + 2 < wd:
                    x00, x01, x02 = x[img, r, s], x[img, r, s + 1], x[img, r, s + 2]
                    x10, x11, x12 = x[img, r + 1, s], x[img, r + 1, s + 1], x[img, r + 1, s + 2]
                    x20, x21, x22 = x[img, r + 2, s], x[img, r + 2, s + 1], x[img, r + 2, s + 2]
                    for ch in range(c):
                        out[ch] = (x00[ch] * w[0, 0, ch] + x01[ch] * w[0, 1, ch] + x02[ch] * w[0, 2, ch]
                                   + x10[ch] * w[1, 0, ch] + x11[ch] * w[1, 1, ch] + x12[ch] * w[1, 2, ch]
                                   + x20[ch] * w[2, 0, ch] + x21[ch] * w[2, 1, ch] + x22[ch] * w[2, 2, ch])
                else:  # the border: only the taps inside the image
                    out[:] = 0
                    for a in range(max(0, -r), min(3, h - r)):
                        for bb in range(max(0, -s), min(3, wd - s)):
                            pixel, weights = x[img, r + a, s + bb], w[a, bb]
                            for ch in range(c):
                                out[ch] += pixel[ch] * weights[ch]
            if has_bias or relu:
                _bias_relu(y[img, yo], b, has_bias, relu, has_cap, cap)


def nine_tap_weights(w, dtype):
    """(3, 3, C) contiguous weights in ``dtype``, from (3, 3, C, 1)."""
    return np.ascontiguousarray(w[:, :, :, 0], dtype=dtype)


def nine_tap_input_grad(g, w3_turned, dx, geom: WindowGeometry):
    """dx[r, s] = Σ_(a,b) g[r + top - a, s + left - b] · w[a, b], which is
    ``nine_taps`` of g with w[2 - a, 2 - b] (``w3_turned``) and padding 2 - top, 2 - left."""
    (top, _), (left, _) = geom.pads
    nine_taps(g, w3_turned, np.zeros(0, g.dtype), dx, False, False, False, g.dtype.type(0), 2 - top, 2 - left)
