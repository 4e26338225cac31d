"""DepthwiseConv2D with a depth multiplier of 1, a row at a time (``numba_depthwise`` picks them).

MobileNet's and MobileNetV2's depthwise layers have one filter per channel and
often few channels (8 over 48x48 pixels): a loop over output pixels then
spends most of its time on per-pixel overhead (window bounds, a short channel
loop). These loops go a row at a time instead (a 3x3 stride-1 window over 16
channels or more goes to ``numba_depthwise_3x3.py``):

* stride 1: along a row, the pixels one tap reads are one contiguous run of
  the input row, so each tap is a multiply-add of whole runs, as long as the
  row (``_forward_rows``, ``_input_grad_rows``: the tap's C weights repeated
  along the row by ``_weight_runs``; ``_weight_grad_rows``: into an
  accumulator as long as the run, folded onto the C weights per image);
* other strides: the window bounds are worked out once per row and tap, the
  C channels innermost (``_forward_strided``, ``_input_grad_strided``, which
  finishes dx one input row at a time, ``_weight_grad_strided``).

They compute ``ops/depthwise.py``'s formulas (tested equal to it in
``tests/test_kernels_depthwise.py``); dw is summed per image in the data's
dtype, then in float64.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .numba_gemm import _JIT, _bias_relu


@njit(inline="always")
def _outputs_reading(tap, dilation, pad, stride, size, out_size):
    """Output positions o in [first, stop) whose input o·stride + tap·dilation - pad
    lies inside the image (0 <= input < size): the pixels of a row tap ``tap`` reads."""
    offset = tap * dilation - pad
    first = max(0, -(offset // stride))
    return first, max(first, min(out_size, (size - 1 - offset) // stride + 1))


@njit(inline="always")
def _outputs_reading_stride_1(tap, dilation, pad, size, out_size):
    """``_outputs_reading`` for stride 1, without the two integer divisions the
    stride-1 loops do not need (they run once per row and tap, in the hottest loops)."""
    offset = tap * dilation - pad
    first = max(0, -offset)
    return first, max(first, min(out_size, size - offset))


@njit(**_JIT)
def _forward_rows(x, w_runs, b, y, has_bias, relu, has_cap, cap, kh, kw, dh, dw, top, left, oh, ow):
    """Stride 1, a depth multiplier of 1: one output row at a time. For tap
    (a, b) the output row's inputs are one contiguous run of the input row, so
    y_row += w_run · x_row[shifted] is a product of three runs as long as the
    row (vectorised), with ``w_runs[a, b]`` the tap's C weights repeated once
    per output pixel; then bias and ReLU over the row (``numba_gemm._bias_relu``).
    Few channels (16 over 48x48 pixels in MobileNetV2) leave a per-pixel loop
    mostly overhead."""
    n, h, wd, c = x.shape
    x_rows = x.reshape(n, h, wd * c)
    y_rows = y.reshape(n, oh, ow * c)
    for img in range(n):
        for yo in range(oh):
            out = y_rows[img, yo]
            out[:] = 0
            for i in range(kh):
                r = yo + i * dh - top
                if r < 0 or r >= h:
                    continue
                for j in range(kw):
                    first, stop = _outputs_reading_stride_1(j, dw, left, wd, ow)
                    _multiply_add_run(out, w_runs[i, j], x_rows[img, r], first * c, stop * c, (j * dw - left) * c)
            if has_bias or relu:
                _bias_relu(y[img, yo], b, has_bias, relu, has_cap, cap)


@njit(**_JIT)
def _forward_strided(x, w, b, y, has_bias, relu, has_cap, cap, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """Any stride, a depth multiplier of 1, one output row at a time: each tap
    adds its weights times every ``sw``-th input pixel of its input row into
    the row (the output row stays in cache; the window bounds are worked out
    per row and tap, not per pixel)."""
    n, h, wd, c = x.shape
    for img in range(n):
        for yo in range(oh):
            row = y[img, yo]
            row[:] = 0
            for i in range(kh):
                r = yo * sh + i * dh - top
                if r < 0 or r >= h:
                    continue
                x_row = x[img, r]
                for j in range(kw):
                    first, stop = _outputs_reading(j, dw, left, sw, wd, ow)
                    weights = w[i, j]
                    for xo in range(first, stop):
                        out = row[xo]
                        pixel = x_row[xo * sw + j * dw - left]
                        for ch in range(c):
                            out[ch] += pixel[ch] * weights[ch, 0]
            if has_bias or relu:
                _bias_relu(row, b, has_bias, relu, has_cap, cap)


@njit(**_JIT)
def _input_grad_rows(w_runs, g, dx, kh, kw, dh, dw, top, left, oh, ow):
    """``_input_grad_gather`` for a depth multiplier of 1, one input row at a
    time as ``_forward_rows``: dx_row += w_run · g_row[shifted] over the run of
    input pixels whose output exists, ``w_runs[a, b]`` the tap's C weights
    repeated once per input pixel."""
    n, h, wd, c = dx.shape
    g_rows = g.reshape(n, oh, ow * c)
    dx_rows = dx.reshape(n, h, wd * c)
    for img in range(n):
        for r in range(h):
            out = dx_rows[img, r]
            out[:] = 0
            for i in range(kh):
                yo = r + top - i * dh
                if yo < 0 or yo >= oh:
                    continue
                for j in range(kw):
                    first = max(0, j * dw - left)
                    stop = min(wd, ow + j * dw - left)
                    if first < stop:
                        _multiply_add_run(out, w_runs[i, j], g_rows[img, yo], first * c, stop * c,
                                          (left - j * dw) * c)


@njit(**_JIT)
def _input_grad_strided(w, g, dx, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """dx for any stride and a depth multiplier of 1, one input row at a time:
    the row is zeroed, then each tap whose output row exists adds g·w to the
    input pixels it reads (every ``sw``-th one, C channels side by side), so
    each row is finished while it is in cache."""
    n, h, wd, c = dx.shape
    for img in range(n):
        for r in range(h):
            row = dx[img, r]
            row[:] = 0
            for i in range(kh):
                t = r + top - i * dh
                if t < 0 or t % sh != 0 or t // sh >= oh:
                    continue
                grad_row = g[img, t // sh]
                for j in range(kw):
                    first, stop = _outputs_reading(j, dw, left, sw, wd, ow)
                    weights = w[i, j]
                    for xo in range(first, stop):
                        d_pixel = row[xo * sw + j * dw - left]
                        grad = grad_row[xo]
                        for ch in range(c):
                            d_pixel[ch] += grad[ch] * weights[ch, 0]


@njit(**_JIT)
def _weight_grad_rows(x, g, dw_sum, kh, kw, dh, dw, top, left, oh, ow):
    """dw for stride 1 and a depth multiplier of 1, added to ``dw_sum`` (float64).

    For tap (a, b), dw[a, b, :] = Σ x[r + a·d - top, s + b·d - left, :] · g[r, s, :]
    over the outputs (r, s) whose input is inside the image. Along an output
    row those inputs are one contiguous run of the input row, and the g values
    one run of the g row: so each tap multiplies two long runs into an
    accumulator as long as the run (vectorised), and only at the end of the
    image is each accumulator folded, every C-th value, onto the C weights."""
    n, h, wd, c = x.shape
    x_rows = x.reshape(n, h, wd * c)
    g_rows = g.reshape(n, oh, ow * c)
    acc = np.empty((kh, kw, ow * c), x.dtype)
    for img in range(n):
        acc[:] = 0
        for i in range(kh):
            for yo in range(oh):
                r = yo + i * dh - top
                if r < 0 or r >= h:
                    continue
                for j in range(kw):
                    first, stop = _outputs_reading_stride_1(j, dw, left, wd, ow)
                    _multiply_add_run(acc[i, j], g_rows[img, yo], x_rows[img, r], first * c, stop * c,
                                      (j * dw - left) * c)
        for i in range(kh):
            for j in range(kw):
                run = acc[i, j]
                for xo in range(1, ow):  # fold the run onto its first C values
                    for ch in range(c):
                        run[ch] += run[xo * c + ch]
                for ch in range(c):
                    dw_sum[i, j, ch, 0] += run[ch]


@njit(**_JIT)
def _weight_grad_strided(x, g, dw_sum, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """dw for any stride and a depth multiplier of 1, added to ``dw_sum``
    (float64): per image, each tap's C sums gather x·g along each output row
    for the pixels that tap reads, in the data's dtype."""
    n, h, wd, c = x.shape
    image_dw = np.empty((kh, kw, c), x.dtype)
    for img in range(n):
        image_dw[:] = 0
        for yo in range(oh):
            grad_row = g[img, yo]
            for i in range(kh):
                r = yo * sh + i * dh - top
                if r < 0 or r >= h:
                    continue
                x_row = x[img, r]
                for j in range(kw):
                    first, stop = _outputs_reading(j, dw, left, sw, wd, ow)
                    acc = image_dw[i, j]
                    for xo in range(first, stop):
                        pixel = x_row[xo * sw + j * dw - left]
                        grad = grad_row[xo]
                        for ch in range(c):
                            acc[ch] += pixel[ch] * grad[ch]
        for i in range(kh):
            for j in range(kw):
                for ch in range(c):
                    dw_sum[i, j, ch, 0] += image_dw[i, j, ch]


@njit(inline="always")
def _multiply_add_run(acc, g_row, x_row, lo, hi, shift):
    """acc[k] += g_row[k] · x_row[k + shift] for k in [lo, hi), unsigned offsets
    (as ``numba_conv._im2col``: no wrap-around test, so it vectorises)."""
    lo, hi, shift = np.uint64(lo), np.uint64(hi), np.int64(shift)
    for k in range(lo, hi):
        acc[k] += g_row[k] * x_row[np.uint64(np.int64(k) + shift)]


def _weight_runs(w, dtype, length):
    """(kh, kw, length·C): each tap's C weights repeated ``length`` times, the
    run a row of ``length`` pixels is multiplied by (``_forward_rows``, ``_input_grad_rows``)."""
    return np.ascontiguousarray(np.tile(w[:, :, :, 0].astype(dtype, copy=False), (1, 1, length)))
