"""Numba kernels for pooling, ReLU and Adam: the reference algorithms as compiled loops.

(Conv2D and the im2col/col2im loops it is built on are in ``numba_conv.py``,
Dense in ``numba_dense.py``; the rules below hold for all three.)

NumPy is fast at one big operation (a GEMM, an elementwise ufunc) and slow at
many small strided copies, scatters and chains of temporaries. These kernels
replace exactly those parts; the GEMMs stay on BLAS. Every kernel:

* computes the same thing as the reference code it overrides (pooling in
  ``ops/pool.py``, ReLU in ``ops/activation_ops.py``, Adam in
  ``optimizers.py``; the tests compare them over hypothesis-drawn shapes to
  float32 rounding);
* is a serial loop over the images it is given; ``threads.launch`` hands
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
from .numba_conv import _maxpool_2x2, _maxpool_2x2_backward, _span
from .numba_gemm import _JIT
from .threads import launch

# -- max pooling ------------------------------------------------------------------
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
        launch(_maxpool_2x2, x.shape[0], (x, out, arg))
    else:
        launch(_maxpool, x.shape[0], (x, out, arg), *geom.as_ints())
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


def maxpool_backward(grad, argmax, x_shape, geom: WindowGeometry):
    grad = np.ascontiguousarray(grad)
    if geom.is_2x2_tiling:
        out = np.empty(x_shape, dtype=grad.dtype)
        launch(_maxpool_2x2_backward, out.shape[0], (grad, argmax, out))
    else:
        out = np.zeros(x_shape, dtype=grad.dtype)
        launch(_maxpool_backward, out.shape[0], (grad, argmax, out), *geom.as_ints())
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
    launch(_avgpool, x.shape[0], (np.ascontiguousarray(x), out), *geom.as_ints())
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
    launch(_avgpool_backward, out.shape[0], (np.ascontiguousarray(grad), out), *geom.as_ints())
    return out


# -- ReLU ---------------------------------------------------------------------------------
@njit(**_JIT)
def _relu(x, y, mask, has_cap, cap, keep_mask):
    """y = min(max(x, 0), cap); mask = where the slope is 1 (0 < x, and x < cap)."""
    for i in range(x.size):
        v = x[i]
        if keep_mask:
            mask[i] = v > 0 and not (has_cap and v >= cap)
        v = 0 if v < 0 else v  # NaN passes through, as with np.maximum
        y[i] = cap if has_cap and v > cap else v


def relu_forward(x, max_value=None, keep_mask=True):
    """ReLU (capped at ``max_value``: ReLU6) in one pass; the 0/1 slope mask
    only when backward will want it (None otherwise)."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    mask = np.empty(x.shape if keep_mask else (1,), dtype=np.bool_)
    cap = x.dtype.type(0 if max_value is None else max_value)
    launch(_relu, x.size, (x.reshape(-1), y.reshape(-1), mask.reshape(-1)), max_value is not None, cap, keep_mask)
    return y, (mask if keep_mask else None)


@njit(**_JIT)
def _relu_backward(g, mask, out):
    for i in range(g.size):
        out[i] = g[i] * mask[i]


def relu_backward(grad, mask):
    grad = np.ascontiguousarray(grad)
    out = np.empty_like(grad)
    launch(_relu_backward, grad.size, (grad.reshape(-1), mask.reshape(-1), out.reshape(-1)))
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
    launch(_adam, w.size, (*flat[:4], hat), v_hat is not None, t(alpha), t(1 - beta_1), t(1 - beta_2), t(epsilon))
    for original, updated in zip((w, None, m, v, v_hat), flat):
        if original is not None and not original.flags.c_contiguous:  # a copy: write it back
            original[...] = updated.reshape(original.shape)
