"""DepthwiseConv2D on the CPU: direct loops over NHWC rows, channels innermost.

Overrides (``kernels/__init__.py`` chooses them): ``depthwise_forward`` and
``depthwise_backward`` for ``ops/depthwise.py``, whose reference builds the
im2col window matrix (9x the input for a 3x3 kernel) and contracts it with an
``einsum``. A depthwise filter mixes no channels, so there is no GEMM to feed:
each output pixel is a sum over its window cells of one input pixel (all its
channels, side by side in NHWC) times one row of weights::

    y[n, i, j, c·M + m] = b[c·M + m] + Σ_(a,b) x[n, i·s + a·d - top, j·s + b·d - left, c] · w[a, b, c, m]

Backward, after ReLU's slope (read off y, as in ``numba_conv``)::

    dx[n, r, s, c] = Σ_m Σ over the window cells that read it  g[n, i, j, c·M + m] · w[a, b, c, m]
    dw[a, b, c, m] = Σ over images and outputs  x[n, r, s, c] · g[n, i, j, c·M + m]

Nothing the size of the window matrix exists, and padding is a bounds test.
How the loops run: a 3x3 stride-1 window over 16 channels or more, nine products
per output value written once (``numba_depthwise_3x3.py``, forward and dx);
other windows with a depth multiplier of 1 (MobileNet's and MobileNetV2's
layers), a row at a time (``numba_depthwise_rows.py``: over
contiguous runs with stride 1, window bounds per row and tap otherwise); with
a depth multiplier M > 1, the window loop over output pixels here (``_forward``;
``_backward``, which adds each output's gradient into the input pixels of its
window, and with stride 1 dx as a gather, one write per input pixel:
``_input_grad_gather``).

Each core takes its own images (``threads.over_batch``): dx needs no locks,
and each core sums its own dw (one image at a time in the input's dtype, the
images in float64) before the parts are added in order. Bias and ReLU (capped
for ReLU6) are applied while the row or pixel is in cache.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..shapes import WindowGeometry
from . import numba_depthwise_3x3
from .numba_conv import _span
from .numba_depthwise_rows import (_forward_rows, _forward_strided, _input_grad_rows, _input_grad_strided,
                                   _weight_grad_rows, _weight_grad_strided, _weight_runs)
from .numba_gemm import _JIT, _bias_relu, _cap, _relu_grad_bias_sum
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
                        for ch in range(c):
                            for k in range(m):
                                out[ch * m + k] += pixel[ch] * weights[ch, k]
            if has_bias or relu:  # over the row, still in cache
                _bias_relu(y[img, yo], b, has_bias, relu, has_cap, cap)


@njit(inline="always")
def _taps_reaching(p, dilation, k, out_size):
    """Taps i in [first, stop) whose output p - i·dilation lies in [0, out_size)."""
    first = max(0, (p - out_size + dilation) // dilation)
    stop = min(k, p // dilation + 1)
    return first, max(first, stop)


@njit(**_JIT)
def _input_grad_gather(w, g, dx, kh, kw, dh, dw, top, left, oh, ow):
    """dx for stride 1, written once per input pixel: the sum over the window
    cells (a, b) whose output (r + top - a·d, s + left - b·d) exists. A gather
    like forward, instead of adding each output's gradient into 9 input pixels."""
    n, h, wd, c = dx.shape
    m = w.shape[3]
    for img in range(n):
        for r in range(h):
            i0, i1 = _taps_reaching(r + top, dh, kh, oh)
            for s in range(wd):
                j0, j1 = _taps_reaching(s + left, dw, kw, ow)
                d_pixel = dx[img, r, s]
                d_pixel[:] = 0
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        grad = g[img, r + top - i * dh, s + left - j * dw]
                        weights = w[i, j]
                        for ch in range(c):
                            for k in range(m):
                                d_pixel[ch] += grad[ch * m + k] * weights[ch, k]


@njit(**_JIT)
def _backward(x, w, g, dx, dw_sum, want_dx, want_dw, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """For a depth multiplier > 1: dx for these images with a stride > 1
    (zeroed here; stride 1 goes to ``_input_grad_gather``) and their dw, summed
    per image in the input's dtype, then added to ``dw_sum`` (float64)."""
    n, h, wd, c = x.shape
    m = w.shape[3]
    scatter_dx = want_dx and (sh != 1 or sw != 1)
    if scatter_dx:
        dx[:] = 0
    if not (scatter_dx or want_dw):
        return
    image_dw = np.empty(w.shape, x.dtype)
    for img in range(n):
        image_dw[:] = 0
        for yo in range(oh):
            i0, i1 = _span(yo, kh, sh, dh, top, h)
            for xo in range(ow):
                j0, j1 = _span(xo, kw, sw, dw, left, wd)
                grad = g[img, yo, xo]
                for i in range(i0, i1):
                    r = yo * sh + i * dh - top
                    for j in range(j0, j1):
                        s = xo * sw + j * dw - left
                        if scatter_dx:
                            weights = w[i, j]
                            d_pixel = dx[img, r, s]
                            for ch in range(c):
                                for k in range(m):
                                    d_pixel[ch] += grad[ch * m + k] * weights[ch, k]
                        if want_dw:
                            pixel = x[img, r, s]
                            d_weights = image_dw[i, j]
                            for ch in range(c):
                                for k in range(m):
                                    d_weights[ch, k] += pixel[ch] * grad[ch * m + k]
        if want_dw:
            flat_sum, flat_image = dw_sum.reshape(-1), image_dw.reshape(-1)
            for k in range(flat_sum.size):
                flat_sum[k] += flat_image[k]


def depthwise_forward(x, w, b, geom: WindowGeometry, relu: bool = False, max_value=None):
    """y = [relu](depthwise(x, w) + b), as ``ops/depthwise.py``'s reference."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w)
    dtype = np.result_type(x, w)
    y = np.empty((x.shape[0], geom.out_h, geom.out_w, w.shape[2] * w.shape[3]), dtype=dtype)
    bias = np.zeros(0, dtype) if b is None else b.astype(dtype, copy=False)

    kh, kw, sh, sw, dh, dw, top, left, oh, ow = geom.as_ints()
    activation = (b is not None, relu, *_cap(max_value, dtype))
    single = w.shape[3] == 1
    nine_taps = numba_depthwise_3x3.applies(geom, w)
    rows = not nine_taps and single and (sh, sw) == (1, 1)
    if nine_taps:
        w3 = numba_depthwise_3x3.nine_tap_weights(w, dtype)
    elif rows:
        w_runs = _weight_runs(w, dtype, ow)

    def part(lo, hi):  # images lo..hi-1
        if nine_taps:
            numba_depthwise_3x3.nine_taps(x[lo:hi], w3, bias, y[lo:hi], *activation, top, left)
        elif rows:
            _forward_rows(x[lo:hi], w_runs, bias, y[lo:hi], *activation, kh, kw, dh, dw, top, left, oh, ow)
        elif single:
            _forward_strided(x[lo:hi], w, bias, y[lo:hi], *activation, *geom.as_ints())
        else:
            _forward(x[lo:hi], w, bias, y[lo:hi], *activation, *geom.as_ints())

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
    kh, kw, sh, sw, dh, dw, top, left, oh, ow = geom.as_ints()
    stride_1, single = (sh, sw) == (1, 1), w.shape[3] == 1
    nine_taps = needs[0] and numba_depthwise_3x3.applies(geom, w)
    rows_dx = needs[0] and not nine_taps and single and stride_1
    if nine_taps:  # the window turned by 180 degrees
        w3_turned = numba_depthwise_3x3.nine_tap_weights(w[::-1, ::-1], g.dtype)
    elif rows_dx:  # the tap's weights along an input row
        w_runs = _weight_runs(w, g.dtype, x.shape[2])

    def part(lo, hi):
        dw_sum = np.zeros(w.shape, np.float64)
        if not single:  # a depth multiplier > 1: the window loop, dx and dw
            _backward(x[lo:hi], w, slope_g[lo:hi], dx[lo:hi], dw_sum, needs[0] and not stride_1, needs[1],
                      *geom.as_ints())
        if needs[1] and single and stride_1:
            _weight_grad_rows(x[lo:hi], slope_g[lo:hi], dw_sum, kh, kw, dh, dw, top, left, oh, ow)
        elif needs[1] and single:
            _weight_grad_strided(x[lo:hi], slope_g[lo:hi], dw_sum, kh, kw, sh, sw, dh, dw, top, left, oh, ow)
        if nine_taps:
            numba_depthwise_3x3.nine_tap_input_grad(slope_g[lo:hi], w3_turned, dx[lo:hi], geom)
        elif rows_dx:
            _input_grad_rows(w_runs, slope_g[lo:hi], dx[lo:hi], kh, kw, dh, dw, top, left, oh, ow)
        elif needs[0] and stride_1:
            _input_grad_gather(w, slope_g[lo:hi], dx[lo:hi], kh, kw, dh, dw, top, left, oh, ow)
        elif needs[0] and single:
            _input_grad_strided(w, slope_g[lo:hi], dx[lo:hi], kh, kw, sh, sw, dh, dw, top, left, oh, ow)
        return dw_sum

    parts = over_batch(part, x.shape[0], max(x.size, g.size))
    dw = None
    if needs[1]:
        dw = parts[0]
        for more in parts[1:]:  # in part order: the same sum every run
            dw += more
        dw = dw.astype(g.dtype)
    return (dx if needs[0] else None), dw, (db.astype(g.dtype) if needs[2] else None)
