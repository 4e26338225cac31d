"""Conv2D on the CPU: the reference's im2col + GEMM, cut into cache-sized pieces.

The reference builds one im2col matrix for the whole batch (38 MB for the
seed CNN's second layer at batch 128), writes it to memory, reads it back for
the GEMM, and keeps it until backward. Here each core takes its own images
(``threads.over_batch``) and walks through them a few at a time:

forward, per chunk of images::

    cols  = im2col(x[chunk])             a ~1 MB buffer, still in the core's cache
    y[chunk] = cols @ w_matrix           BLAS on one thread, straight into y
    y[chunk] = relu(y[chunk] + b)        one pass, in place

backward, per chunk::

    g'    = g[chunk] · (y[chunk] > 0)    ReLU's slope, fused with the bias sum db
    dx[chunk] = col2im(g' @ w_matrix.T)
    cols  = im2col(x[chunk])             recomputed: cheaper than keeping it
    dw   += cols.T @ g'

A Dense layer is a 1x1 convolution of one-pixel images and runs here too; when
its weight matrix is larger than its input it is split over the weights
instead of the images (see ``_is_dense``).

Nothing the size of the whole im2col matrix is allocated, and the forward
pass keeps no im2col matrix for backward, except a narrow one (a first layer
over 3 colour channels: 27 values per row), which is cheap to keep and,
with so few channels per copy, slow to rebuild. dw and db are summed per
thread, then over the threads in a fixed order.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..shapes import WindowGeometry
from . import reference, register
from .numba_cpu import _JIT, _col2im, _geometry, _im2col, _is_2x2, _maxpool_2x2, _maxpool_2x2_backward
from .threads import over_batch

CHUNK_BYTES = 1 << 20  # im2col buffer per chunk: fits a core's L2 cache
KEEP_NARROW_COLS = 32  # keep im2col matrices this narrow (e.g. 3x3 over RGB: 27) for backward


@njit(**_JIT)
def _bias_relu(y, b, has_bias, relu):
    """y = relu(y + b) in place, row by row (y is (pixels, C_out))."""
    rows, c = y.shape
    for r in range(rows):
        for ch in range(c):
            v = y[r, ch] + b[ch] if has_bias else y[r, ch]
            y[r, ch] = 0 if (relu and v < 0) else v  # NaN passes through, as np.maximum


@njit(**_JIT)
def _relu_grad_bias_sum(g, y, relu, out, bias_sum):
    """out = g · (y > 0) (or g itself); bias_sum += out summed over rows (float64)."""
    rows, c = g.shape
    for r in range(rows):
        for ch in range(c):
            v = g[r, ch] if (not relu or y[r, ch] > 0) else 0
            out[r, ch] = v
            bias_sum[ch] += v


def _images_per_chunk(geom: WindowGeometry, width: int, itemsize: int) -> int:
    """Chunks exist to keep the im2col buffer in cache. A 1x1 window has no
    im2col buffer, so it takes its images in one GEMM (smaller GEMMs would each
    re-pack the whole weight matrix: 2 MB for the seed CNN's Dense layer)."""
    if geom.is_pointwise:
        return 1 << 62
    return max(1, CHUNK_BYTES // (geom.out_h * geom.out_w * width * itemsize))


def _cols(x, lo, hi, geom, buffer):
    """The im2col rows of images lo..hi-1, in ``buffer`` (or a view of x for 1x1)."""
    if geom.is_pointwise:
        return x[lo:hi].reshape(-1, x.shape[3])
    cols = buffer[:(hi - lo) * geom.out_h * geom.out_w]
    _im2col(x[lo:hi], cols, *_geometry(geom))
    return cols


def _bias(b, units, dtype):
    """The bias in the output's dtype; zeros without one (the kernels then skip adding it)."""
    return np.zeros(units, dtype) if b is None else b.astype(dtype, copy=False)


def _forward(x, w, b, geom: WindowGeometry, relu: bool, pool: bool, keep_cols: bool):
    """The chunk loop of forward. Without ``pool`` the GEMM writes straight into
    y; with ``pool`` (2x2, stride 2) each chunk's output stays in a buffer and
    only its max-pooled values and their window cells are written out."""
    x = np.ascontiguousarray(x)
    n, pixels = x.shape[0], geom.out_h * geom.out_w
    w2 = np.ascontiguousarray(w.reshape(-1, w.shape[-1]))
    dtype = np.result_type(x, w)
    conv_shape = (n, geom.out_h, geom.out_w, w2.shape[1])
    if pool:
        pooled = np.empty((n, geom.out_h // 2, geom.out_w // 2, w2.shape[1]), dtype=dtype)
        cells = np.empty(pooled.shape, dtype=np.uint8)
    else:
        y = np.empty((n * pixels, w2.shape[1]), dtype=dtype)
    bias = _bias(b, w2.shape[1], dtype)
    step = _images_per_chunk(geom, w2.shape[0], x.itemsize)
    # A narrow im2col matrix (a first layer over RGB) is cheap to keep but slow to
    # rebuild (few channels: short copies), so it is kept whole for backward,
    # if there will be one that computes the weight gradient (``keep_cols``).
    kept = (np.empty((n * pixels, w2.shape[0]), dtype=dtype)
            if keep_cols and w2.shape[0] <= KEEP_NARROW_COLS and not geom.is_pointwise else None)

    def part(lo, hi):
        # im2col rows of one chunk (a 1x1 window reads x in place and needs none)
        buffer = None if geom.is_pointwise else np.empty((min(step, hi - lo) * pixels, w2.shape[0]), dtype=dtype)
        out_buffer = np.empty((min(step, hi - lo) * pixels, w2.shape[1]), dtype=dtype) if pool else None
        for s in range(lo, hi, step):
            e = min(hi, s + step)
            rows = out_buffer[:(e - s) * pixels] if pool else y[s * pixels:e * pixels]
            target = buffer if kept is None else kept[s * pixels:]
            np.matmul(_cols(x, s, e, geom, target), w2, out=rows)
            if b is not None or relu:
                _bias_relu(rows, bias, b is not None, relu)
            if pool:
                _maxpool_2x2(rows.reshape(e - s, *conv_shape[1:]), pooled[s:e], cells[s:e])

    over_batch(part, n, max(n * pixels * w2.shape[1], x.size))
    return (pooled, cells, kept) if pool else (y.reshape(conv_shape), kept)


def _backward(x, w, kept, geom: WindowGeometry, needs, dtype, slope_grad):
    """The chunk loop of backward. ``slope_grad(s, e, out, db)`` writes the
    gradient before the activation for images s..e into ``out`` (rows, C_out)
    and adds its column sums to ``db``; the rest is the same for every caller."""
    x = np.ascontiguousarray(x)
    n, pixels = x.shape[0], geom.out_h * geom.out_w
    w2 = np.ascontiguousarray(w.reshape(-1, w.shape[-1]))
    pointwise = geom.is_pointwise
    gx = np.empty(x.shape, dtype=dtype) if needs[0] else None
    step = _images_per_chunk(geom, w2.shape[0], x.itemsize)

    def part(lo, hi):
        chunk_rows = min(step, hi - lo) * pixels
        buffer = None if pointwise else np.empty((chunk_rows, w2.shape[0]), dtype=dtype)
        slope_g = np.empty((chunk_rows, w2.shape[1]), dtype=dtype)
        gw = None
        gb = np.zeros(w2.shape[1], dtype=np.float64)
        for s in range(lo, hi, step):
            e = min(hi, s + step)
            gs = slope_g[:(e - s) * pixels]
            slope_grad(s, e, gs, gb)
            if needs[0] and pointwise:  # d(cols) is dx itself
                np.matmul(gs, w2.T, out=gx[s:e].reshape(-1, w2.shape[0]))
            elif needs[0]:  # the buffer holds d(cols) first, then cols
                dcols = np.matmul(gs, w2.T, out=buffer[:(e - s) * pixels])
                _col2im(dcols, gx[s:e], *_geometry(geom))
            if needs[1]:
                cols = _cols(x, s, e, geom, buffer) if kept is None else kept[s * pixels:e * pixels]
                term = np.matmul(cols.T, gs)
                gw = term if gw is None else np.add(gw, term, out=gw)
        return gw, gb

    results = over_batch(part, n, max(n * pixels * w2.shape[1], x.size))
    gw, gb = results[0]
    for part_gw, part_gb in results[1:]:  # in part order: the same sum every run
        gb += part_gb
        if needs[1]:
            gw += part_gw
    return (gx, gw.reshape(w.shape) if needs[1] else None,
            gb.astype(dtype) if needs[2] else None)


# -- Dense: a 1x1 convolution of one-pixel images, split over its weights ------------------
def _is_dense(x, w2, geom: WindowGeometry) -> bool:
    """A Dense layer's GEMM (one pixel per image) whose weight matrix is at least
    as large as its input. Split over images, each core would pack the whole
    weight matrix for a GEMM with few rows (the seed CNN's 4096x128 Dense: 2 MB
    for 64 rows each), so these are split over the weights' columns (forward)
    and rows (backward) instead: every core packs only its half."""
    return geom.is_pointwise and geom.out_h == geom.out_w == 1 and w2.size >= x.size


def _dense_forward(x2, w2, bias, has_bias, relu):
    y = np.empty((x2.shape[0], w2.shape[1]), dtype=np.result_type(x2, w2))

    def part(lo, hi):  # output units lo..hi-1
        np.matmul(x2, w2[:, lo:hi], out=y[:, lo:hi])
        if has_bias or relu:
            _bias_relu(y[:, lo:hi], bias[lo:hi], has_bias, relu)

    over_batch(part, w2.shape[1], w2.size)
    return y


def _dense_backward(slope_g, x2, w2, needs):
    """slope_g: the gradient before the activation (rows, units). dx and dw are
    split over the input features: dx[:, f] = g @ w[f].T, dw[f] = x[:, f].T @ g."""
    gx = np.empty(x2.shape, slope_g.dtype) if needs[0] else None
    gw = np.empty(w2.shape, slope_g.dtype) if needs[1] else None

    def part(lo, hi):  # input features lo..hi-1
        if needs[0]:
            np.matmul(slope_g, w2[lo:hi].T, out=gx[:, lo:hi])
        if needs[1]:
            np.matmul(x2[:, lo:hi].T, slope_g, out=gw[lo:hi])

    over_batch(part, w2.shape[0], w2.size)
    return gx, gw


@register("numba", "conv2d_forward")
def conv2d_forward(x, w, b, geom: WindowGeometry, relu: bool, keep_cols: bool = True):
    w2 = np.ascontiguousarray(w.reshape(-1, w.shape[-1]))
    if _is_dense(x, w2, geom):
        bias = _bias(b, w2.shape[1], np.result_type(x, w))
        y = _dense_forward(np.ascontiguousarray(x).reshape(x.shape[0], -1), w2, bias, b is not None, relu)
        return y.reshape(x.shape[0], 1, 1, -1), None
    return _forward(x, w, b, geom, relu, pool=False, keep_cols=keep_cols)


@register("numba", "conv2d_backward")
def conv2d_backward(g, x, w, y, kept, geom: WindowGeometry, relu: bool, needs):
    g2 = np.ascontiguousarray(g).reshape(-1, w.shape[-1])
    y2 = np.ascontiguousarray(y).reshape(g2.shape) if relu else g2
    pixels = geom.out_h * geom.out_w
    w2 = np.ascontiguousarray(w.reshape(-1, w.shape[-1]))
    if _is_dense(x, w2, geom):
        slope_g, db = np.empty_like(g2), np.zeros(g2.shape[1], np.float64)
        _relu_grad_bias_sum(g2, y2, relu, slope_g, db)
        gx, gw = _dense_backward(slope_g, np.ascontiguousarray(x).reshape(x.shape[0], -1), w2, needs)
        return (None if gx is None else gx.reshape(x.shape), None if gw is None else gw.reshape(w.shape),
                db.astype(g2.dtype) if needs[2] else None)

    def slope_grad(s, e, out, db):
        _relu_grad_bias_sum(g2[s * pixels:e * pixels], y2[s * pixels:e * pixels], relu, out, db)

    return _backward(x, w, kept, geom, needs, g2.dtype, slope_grad)


# -- Conv2D + ReLU + 2x2 max pooling in one pass (ops/conv_pool.py) ------------------------
@register("numba", "conv2d_relu_maxpool_forward")
def conv2d_relu_maxpool_forward(x, w, b, geom: WindowGeometry, pool_geom: WindowGeometry, keep_cols: bool = True):
    if not _is_2x2(pool_geom):
        return reference.conv2d_relu_maxpool_forward(x, w, b, geom, pool_geom, keep_cols)
    return _forward(x, w, b, geom, relu=True, pool=True, keep_cols=keep_cols)


@register("numba", "conv2d_relu_maxpool_backward")
def conv2d_relu_maxpool_backward(g, cells, pooled, x, w, kept, geom: WindowGeometry,
                                 pool_geom: WindowGeometry, needs):
    if not _is_2x2(pool_geom):
        return reference.conv2d_relu_maxpool_backward(g, cells, pooled, x, w, kept, geom, pool_geom, needs)
    g = np.ascontiguousarray(g)
    pooled = np.ascontiguousarray(pooled)
    conv_shape = (geom.out_h, geom.out_w, w.shape[-1])

    def slope_grad(s, e, out, db):
        """Each window's winner gets the pooled gradient times ReLU's slope there
        (pooled > 0; the same kernel as after a plain ReLU, which also sums db),
        every other cell 0 (the pooling backward kernel)."""
        through_relu = np.empty(g[s:e].shape, g.dtype)
        _relu_grad_bias_sum(g[s:e].reshape(-1, g.shape[3]), pooled[s:e].reshape(-1, g.shape[3]), True,
                            through_relu.reshape(-1, g.shape[3]), db)
        _maxpool_2x2_backward(through_relu, cells[s:e], out.reshape(e - s, *conv_shape))

    return _backward(x, w, kept, geom, needs, g.dtype, slope_grad)
