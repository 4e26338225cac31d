"""Numba kernels: the reference algorithms as compiled loops over the batch.

NumPy is fast at one big operation (a GEMM, an elementwise ufunc) and slow at
many small strided copies, scatters and chains of temporaries. These kernels
replace exactly those parts; the GEMMs stay on BLAS. Every kernel:

* computes the same thing as the reference code it overrides (im2col/col2im
  in ``ops/im2col.py``, pooling in ``ops/pool.py``, ReLU in
  ``ops/activation_ops.py``, Adam in ``optimizers.py``; the tests compare them
  over hypothesis-drawn shapes to float32 rounding);
* is a serial loop over the images it is given; ``threads.over_batch`` hands
  each core its own images, so scatter-adds (col2im, pooling backward) need
  no locks, and ``nogil=True`` lets the cores run at the same time;
* reads padding implicitly (a bounds test instead of a padded copy);
* is compiled once per dtype on first use and cached on disk (``cache=True``),
  so later processes load it in milliseconds.

``fastmath=False`` keeps IEEE float semantics, the same as NumPy's.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..shapes import WindowGeometry
from .threads import over_batch

# error_model="numpy": a division by zero gives inf or nan, as in NumPy, instead
# of Python's ZeroDivisionError; without that test in every division the
# compiler can turn loops that divide (Adam's update) into vector instructions.
_JIT = dict(nogil=True, fastmath=False, error_model="numpy", cache=True)


def _launch(loop, n, batch_arrays, *scalars):
    """Run ``loop(*batch_arrays, *scalars)`` over the batch, split across the
    cores (``threads.over_batch``). Each of ``batch_arrays`` is cut at the same
    images: an array with k rows per image (cols has out_h·out_w) is cut
    every k rows, so every thread gets the rows of its own images."""
    size = max(a.size for a in batch_arrays)

    def part(lo, hi):
        loop(*(a[lo * (len(a) // n):hi * (len(a) // n)] for a in batch_arrays), *scalars)

    over_batch(part, n, size)


@njit(inline="always")
def _span(pos, k, stride, dilation, pad, size):
    """Offsets i in [first, stop) whose pixel pos·stride + i·dilation - pad lies
    inside the image (0 <= pixel < size): the real, unpadded cells of a window."""
    start = pos * stride - pad
    first = max(0, (-start + dilation - 1) // dilation)
    stop = min(k, (size - start + dilation - 1) // dilation)
    return first, max(first, stop)


# -- im2col / col2im ------------------------------------------------------------
@njit(inline="always")
def _copy_run(cols, row, dst, image_rows, b, r, src, count):
    """cols[row, dst:dst+count] = image_rows[b, r, src:src+count], with unsigned
    offsets (see ``_im2col``)."""
    dst, src = np.uint64(dst), np.uint64(src)
    for k in range(np.uint64(count)):
        cols[row, dst + k] = image_rows[b, r, src + k]


@njit(**_JIT)
def _im2col(x, cols, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """Row (b, y, xo) of cols = the window of output pixel (y, xo) of image b,
    zeros where it hangs over the edge. An image row is seen as one run of w·c
    values; with dilation 1 a window row is then one run copied as a whole.

    The run offsets are unsigned on purpose: Numba wraps a negative index
    around (as Python does), so with a signed offset every copied value is
    tested, and the loop is not vectorised."""
    n, h, w, c = x.shape
    image_rows = x.reshape(n, h, w * c)
    for b in range(n):
        for y in range(oh):
            i0, i1 = _span(y, kh, sh, dh, top, h)
            for xo in range(ow):
                row = (b * oh + y) * ow + xo
                j0, j1 = _span(xo, kw, sw, dw, left, w)
                for i in range(kh):
                    start = i * kw * c
                    if i < i0 or i >= i1:  # the whole window row is padding
                        for k in range(kw * c):
                            cols[row, start + k] = 0
                        continue
                    r = y * sh + i * dh - top
                    for k in range(j0 * c):
                        cols[row, start + k] = 0
                    if dw == 1:  # the window row's cells lie side by side in the image row
                        _copy_run(cols, row, start + j0 * c, image_rows, b, r, (xo * sw + j0 - left) * c, (j1 - j0) * c)
                    else:
                        for j in range(j0, j1):
                            _copy_run(cols, row, start + j * c, image_rows, b, r, (xo * sw + j * dw - left) * c, c)
                    for k in range(j1 * c, kw * c):
                        cols[row, start + k] = 0


def im2col(x, geom: WindowGeometry):
    kh, kw = geom.kernel
    cols = np.empty((x.shape[0] * geom.out_h * geom.out_w, kh * kw * x.shape[3]), dtype=x.dtype)
    _launch(_im2col, x.shape[0], (np.ascontiguousarray(x), cols), *geom.as_ints())
    return cols


@njit(inline="always")
def _add_run(dst, src):
    """dst += src over two 1-D runs of equal length (the compiler vectorises this)."""
    for k in range(dst.size):
        dst[k] += src[k]


@njit(**_JIT)
def _col2im(cols, out, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """out = the sum of each row of cols put back onto the window it came from.

    Each image of ``out`` is zeroed just before its windows are added, so it is
    still in the cache when they are (zeroing all of ``out`` first costs a pass
    over memory). An image row is seen as one run of w·c values: with dilation
    1 the cells of a window row lie side by side there, as they do in the row
    of cols, so each window row is one addition of two runs, which the
    compiler vectorises (a run per pixel, or 4-D indexing, is not)."""
    n, h, w, c = out.shape
    image_rows = out.reshape(n, h, w * c)
    for b in range(n):
        image = image_rows[b].reshape(-1)
        for k in range(image.size):
            image[k] = 0
        for y in range(oh):
            i0, i1 = _span(y, kh, sh, dh, top, h)
            for xo in range(ow):
                window = cols[(b * oh + y) * ow + xo]
                j0, j1 = _span(xo, kw, sw, dw, left, w)
                for i in range(i0, i1):
                    image_row = image_rows[b, y * sh + i * dh - top]
                    if dw == 1:
                        first = (xo * sw + j0 - left) * c
                        _add_run(image_row[first:first + (j1 - j0) * c], window[(i * kw + j0) * c:(i * kw + j1) * c])
                    else:
                        for j in range(j0, j1):
                            first = (xo * sw + j * dw - left) * c
                            _add_run(image_row[first:first + c], window[(i * kw + j) * c:(i * kw + j + 1) * c])


def col2im(cols, x_shape, geom: WindowGeometry):
    out = np.empty(x_shape, dtype=cols.dtype)
    _launch(_col2im, out.shape[0], (np.ascontiguousarray(cols), out), *geom.as_ints())
    return out


# -- max pooling ------------------------------------------------------------------
@njit(**_JIT)
def _maxpool_2x2(x, out, arg):
    """The common case (2x2 window, stride 2, no padding): no bounds tests."""
    n, oh, ow, c = out.shape
    for b in range(n):
        for y in range(oh):
            for xo in range(ow):
                for ch in range(c):
                    best, cell = x[b, 2 * y, 2 * xo, ch], 0
                    for k in range(1, 4):
                        v = x[b, 2 * y + k // 2, 2 * xo + k % 2, ch]
                        if v > best or (v != v and best == best):
                            best, cell = v, k
                    out[b, y, xo, ch] = best
                    arg[b, y, xo, ch] = cell


@njit(**_JIT)
def _maxpool(x, out, arg, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """Any window; padded cells count as -inf. Ties and NaN: the first cell wins,
    as ``argmax`` decides in the reference."""
    n, h, w, c = x.shape
    for b in range(n):
        for y in range(oh):
            for xo in range(ow):
                for ch in range(c):
                    out[b, y, xo, ch] = -np.inf
                    arg[b, y, xo, ch] = 0
                i0, i1 = _span(y, kh, sh, dh, top, h)
                j0, j1 = _span(xo, kw, sw, dw, left, w)
                for i in range(i0, i1):
                    r = y * sh + i * dh - top
                    for j in range(j0, j1):
                        s = xo * sw + j * dw - left
                        for ch in range(c):
                            v, best = x[b, r, s, ch], out[b, y, xo, ch]
                            if v > best or (v != v and best == best):
                                out[b, y, xo, ch] = v
                                arg[b, y, xo, ch] = i * kw + j


def maxpool_forward(x, geom: WindowGeometry):
    """Like the reference: the maxima and, per output, the winning window cell
    (row-major index in the window; stored in the smallest integer type)."""
    kh, kw = geom.kernel
    x = np.ascontiguousarray(x)
    out = np.empty((x.shape[0], geom.out_h, geom.out_w, x.shape[3]), dtype=x.dtype)
    arg = np.empty(out.shape, dtype=np.uint8 if kh * kw <= 256 else np.int32)
    if geom.is_2x2_tiling:
        _launch(_maxpool_2x2, x.shape[0], (x, out, arg))
    else:
        _launch(_maxpool, x.shape[0], (x, out, arg), *geom.as_ints())
    return out, arg


@njit(**_JIT)
def _maxpool_backward(g, arg, out, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    n, h, w, c = out.shape
    for b in range(n):
        for y in range(oh):
            for xo in range(ow):
                for ch in range(c):
                    cell = np.int64(arg[b, y, xo, ch])
                    r = y * sh + (cell // kw) * dh - top
                    s = xo * sw + (cell % kw) * dw - left
                    if 0 <= r < h and 0 <= s < w:
                        out[b, r, s, ch] += g[b, y, xo, ch]


@njit(**_JIT)
def _maxpool_2x2_backward(g, arg, out):
    """2x2 stride-2 windows tile the image: every input cell is written once
    (the winner gets the gradient, the rest 0), so ``out`` needs no zeroing."""
    n, h, w, c = out.shape
    _, oh, ow, _ = g.shape
    for b in range(n):
        for y in range(oh):
            for xo in range(ow):
                for k in range(4):
                    for ch in range(c):
                        out[b, 2 * y + k // 2, 2 * xo + k % 2, ch] = g[b, y, xo, ch] if arg[b, y, xo, ch] == k else 0
        out[b, 2 * oh:, :, :] = 0  # an odd last row / column belongs to no window
        out[b, :, 2 * ow:, :] = 0


def maxpool_backward(grad, argmax, x_shape, geom: WindowGeometry):
    grad = np.ascontiguousarray(grad)
    if geom.is_2x2_tiling:
        out = np.empty(x_shape, dtype=grad.dtype)
        _launch(_maxpool_2x2_backward, out.shape[0], (grad, argmax, out))
    else:
        out = np.zeros(x_shape, dtype=grad.dtype)
        _launch(_maxpool_backward, out.shape[0], (grad, argmax, out), *geom.as_ints())
    return out


# -- average pooling ----------------------------------------------------------------
@njit(**_JIT)
def _avgpool(x, out, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """Mean over the real (unpadded) cells of each window, as Keras."""
    n, h, w, c = x.shape
    for b in range(n):
        for y in range(oh):
            for xo in range(ow):
                i0, i1 = _span(y, kh, sh, dh, top, h)
                j0, j1 = _span(xo, kw, sw, dw, left, w)
                for ch in range(c):
                    out[b, y, xo, ch] = 0
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        for ch in range(c):
                            out[b, y, xo, ch] += x[b, y * sh + i * dh - top, xo * sw + j * dw - left, ch]
                count = (i1 - i0) * (j1 - j0)
                for ch in range(c):
                    out[b, y, xo, ch] /= count


def avgpool_forward(x, geom: WindowGeometry):
    out = np.empty((x.shape[0], geom.out_h, geom.out_w, x.shape[3]), dtype=x.dtype)
    _launch(_avgpool, x.shape[0], (np.ascontiguousarray(x), out), *geom.as_ints())
    return out


@njit(**_JIT)
def _avgpool_backward(g, out, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """Each real cell of a window receives an equal share of its gradient."""
    n, h, w, c = out.shape
    for b in range(n):
        for y in range(oh):
            for xo in range(ow):
                i0, i1 = _span(y, kh, sh, dh, top, h)
                j0, j1 = _span(xo, kw, sw, dw, left, w)
                count = (i1 - i0) * (j1 - j0)
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        for ch in range(c):
                            out[b, y * sh + i * dh - top, xo * sw + j * dw - left, ch] += g[b, y, xo, ch] / count


def avgpool_backward(grad, x_shape, geom: WindowGeometry):
    out = np.zeros(x_shape, dtype=grad.dtype)
    _launch(_avgpool_backward, out.shape[0], (np.ascontiguousarray(grad), out), *geom.as_ints())
    return out


# -- ReLU ---------------------------------------------------------------------------------
@njit(**_JIT)
def _relu(x, y, mask):
    for i in range(x.size):
        v = x[i]
        mask[i] = v > 0
        y[i] = 0 if v < 0 else v  # NaN passes through, as with np.maximum


def relu_forward(x):
    x = np.ascontiguousarray(x)
    y, mask = np.empty_like(x), np.empty(x.shape, dtype=np.bool_)
    _launch(_relu, x.size, (x.reshape(-1), y.reshape(-1), mask.reshape(-1)))
    return y, mask


@njit(**_JIT)
def _relu_backward(g, mask, out):
    for i in range(g.size):
        out[i] = g[i] * mask[i]


def relu_backward(grad, mask):
    grad = np.ascontiguousarray(grad)
    out = np.empty_like(grad)
    _launch(_relu_backward, grad.size, (grad.reshape(-1), mask.reshape(-1), out.reshape(-1)))
    return out


# -- Adam ---------------------------------------------------------------------------------
@njit(inline="always")
def _adam_moments(gi, m, v, i, one_minus_b1, one_minus_b2):
    """Move m[i] and v[i] a step towards g and g² (Keras' form of the moving averages)."""
    mi = m[i] + (gi - m[i]) * one_minus_b1
    vi = v[i] + (gi * gi - v[i]) * one_minus_b2
    m[i], v[i] = mi, vi
    return mi, vi


@njit(**_JIT)
def _adam(w, g, m, v, v_hat, use_v_hat, alpha, one_minus_b1, one_minus_b2, eps):
    """Two loops, one per variant, so that plain Adam's has no test in it and
    compiles to vector instructions (one loop asking ``use_v_hat`` for every
    weight does not)."""
    if use_v_hat:  # AMSGrad: divide by the largest v seen so far
        for i in range(w.size):
            mi, vi = _adam_moments(g[i], m, v, i, one_minus_b1, one_minus_b2)
            vi = max(v_hat[i], vi)
            v_hat[i] = vi
            w[i] -= (mi * alpha) / (np.sqrt(vi) + eps)
    else:
        for i in range(w.size):
            mi, vi = _adam_moments(g[i], m, v, i, one_minus_b1, one_minus_b2)
            w[i] -= (mi * alpha) / (np.sqrt(vi) + eps)


def adam_update(w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon):
    """One pass over the weights instead of NumPy's chain of temporaries (the
    reference: ``Adam.update`` in ``optimizers.py``). The scalars are cast to the
    weights' dtype first, as NumPy does with Python floats. Strided arrays (rare:
    a weight that is a view) are updated through contiguous copies."""
    arrays = [w, g, m, v] + ([] if v_hat is None else [v_hat])
    flat = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
    t = w.dtype.type
    hat = flat[4] if v_hat is not None else flat[2]
    _launch(_adam, w.size, (*flat[:4], hat), v_hat is not None, t(alpha), t(1 - beta_1), t(1 - beta_2), t(epsilon))
    for original, updated in zip((w, None, m, v, v_hat), flat):
        if original is not None and not original.flags.c_contiguous:  # a copy: write it back
            original[...] = updated.reshape(original.shape)
