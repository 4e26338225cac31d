"""DepthwiseConv2D on the CPU: a direct loop over output pixels, channels innermost.

Overrides (``kernels/__init__.py`` chooses them): ``depthwise_forward`` and
``depthwise_backward`` for ``ops/depthwise.py``, whose reference builds the
im2col window matrix (9x the input for a 3x3 kernel) and contracts it with an
``einsum``. A depthwise filter mixes no channels, so there is no GEMM to feed:
each output pixel is a sum over its window cells of one input pixel (all its
channels, side by side in NHWC) times one row of weights::

    y[n, i, j, c·M + m] = b[c·M + m] + Σ_(a,b) x[n, i·s + a·d - top, j·s + b·d - left, c] · w[a, b, c, m]

Channels are the innermost loop, so each window cell is a multiply-add over
two contiguous runs of C values (vectorised by the compiler), padding is a
bounds test (``_span``), and nothing the size of the window matrix exists.
Bias and ReLU (capped for ReLU6) are applied while the pixel is in registers.

Backward, after ReLU's slope (read off y, as in ``numba_conv``)::

    dx[n, r, s, c] += Σ_m g[n, i, j, c·M + m] · w[a, b, c, m]     (each window cell it fed)
    dw[a, b, c, m] += x[n, r, s, c] · g[n, i, j, c·M + m]         (summed over images and pixels)

Each core takes its own images (``threads.over_batch``): dx needs no locks,
and each core sums its own dw (in float64) before the parts are added in order.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..shapes import WindowGeometry
from .numba_conv import _span
from .numba_gemm import _JIT, _cap, _relu_grad_bias_sum
from .threads import over_batch


@njit(**_JIT)
def _forward(x, w, b, y, has_bias, relu, has_cap, cap, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    n, h, wd, c = x.shape
    m = w.shape[3]
    for img in range(n):
        for yo in range(oh):
            i0, i1 = _span(yo, kh, sh, dh, top, h)
            for xo in range(ow):
                j0, j1 = _span(xo, kw, sw, dw, left, wd)
                out = y[img, yo, xo]
                out[:] = 0
                for i in range(i0, i1):
                    r = yo * sh + i * dh - top
                    for j in range(j0, j1):
                        pixel = x[img, r, xo * sw + j * dw - left]
                        weights = w[i, j]
                        if m == 1:
                            for ch in range(c):
                                out[ch] += pixel[ch] * weights[ch, 0]
                        else:
                            for ch in range(c):
                                for k in range(m):
                                    out[ch * m + k] += pixel[ch] * weights[ch, k]
                if has_bias or relu:
                    for k in range(c * m):
                        v = out[k] + b[k] if has_bias else out[k]
                        if relu:
                            v = 0 if v < 0 else v  # NaN passes through, as np.maximum
                            v = cap if has_cap and v > cap else v
                        out[k] = v


@njit(**_JIT)
def _backward(x, w, g, dx, dw_sum, want_dx, want_dw, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """dx for these images (zeroed here) and their dw, added to ``dw_sum``."""
    n, h, wd, c = x.shape
    m = w.shape[3]
    if want_dx:
        dx[:] = 0
    for img in range(n):
        for yo in range(oh):
            i0, i1 = _span(yo, kh, sh, dh, top, h)
            for xo in range(ow):
                j0, j1 = _span(xo, kw, sw, dw, left, wd)
                grad = g[img, yo, xo]
                for i in range(i0, i1):
                    r = yo * sh + i * dh - top
                    for j in range(j0, j1):
                        s = xo * sw + j * dw - left
                        weights = w[i, j]
                        if want_dx:
                            d_pixel = dx[img, r, s]
                            if m == 1:  # the common case, kept free of the inner loop so it vectorises
                                for ch in range(c):
                                    d_pixel[ch] += grad[ch] * weights[ch, 0]
                            else:
                                for ch in range(c):
                                    for k in range(m):
                                        d_pixel[ch] += grad[ch * m + k] * weights[ch, k]
                        if want_dw:
                            pixel = x[img, r, s]
                            d_weights = dw_sum[i, j]
                            if m == 1:
                                for ch in range(c):
                                    d_weights[ch, 0] += pixel[ch] * grad[ch]
                            else:
                                for ch in range(c):
                                    for k in range(m):
                                        d_weights[ch, k] += pixel[ch] * grad[ch * m + k]


def depthwise_forward(x, w, b, geom: WindowGeometry, relu: bool = False, max_value=None):
    """y = [relu](depthwise(x, w) + b), as ``ops/depthwise.py``'s reference."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w)
    dtype = np.result_type(x, w)
    y = np.empty((x.shape[0], geom.out_h, geom.out_w, w.shape[2] * w.shape[3]), dtype=dtype)
    bias = np.zeros(0, dtype) if b is None else b.astype(dtype, copy=False)

    def part(lo, hi):  # images lo..hi-1
        _forward(x[lo:hi], w, bias, y[lo:hi], b is not None, relu, *_cap(max_value, dtype), *geom.as_ints())

    over_batch(part, x.shape[0], max(x.size, y.size))
    return y


def depthwise_backward(g, x, w, y, geom: WindowGeometry, relu: bool, needs, max_value=None):
    """(dx, dw, db) of ``depthwise_forward``; ``needs`` says which to compute."""
    g = np.ascontiguousarray(g)
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w)
    channels = g.shape[3]
    slope_g, db = g, np.zeros(channels, np.float64)
    if relu or needs[2]:
        slope_g = np.empty_like(g)
        y2 = np.ascontiguousarray(y).reshape(-1, channels) if relu else g.reshape(-1, channels)
        _relu_grad_bias_sum(g.reshape(-1, channels), y2, relu, *_cap(max_value, g.dtype),
                            slope_g.reshape(-1, channels), db)
    dx = np.empty(x.shape, g.dtype) if needs[0] else np.empty((x.shape[0], 0, 0, 0), g.dtype)

    def part(lo, hi):
        dw_sum = np.zeros(w.shape, np.float64)
        _backward(x[lo:hi], w, slope_g[lo:hi], dx[lo:hi], dw_sum, needs[0], needs[1], *geom.as_ints())
        return dw_sum

    parts = over_batch(part, x.shape[0], max(x.size, g.size))
    dw = None
    if needs[1]:
        dw = parts[0]
        for more in parts[1:]:  # in part order: the same sum every run
            dw += more
        dw = dw.astype(g.dtype)
    return (dx if needs[0] else None), dw, (db.astype(g.dtype) if needs[2] else None)
