"""Conv2D and Dense on the CPU: the reference's GEMMs, cut into cache-sized pieces.

Overrides (``kernels/__init__.py`` chooses them): ``conv2d_forward``/``_backward``
for ``ops/conv.py``, ``dense_forward``/``_backward`` for ``ops/dense.py``,
``conv2d_relu_maxpool_forward``/``_backward`` for ``ops/conv_pool.py``.

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

A Dense layer's GEMM runs here too: as the pointwise case of the chunk loop
(one pixel per image), or, when its weight matrix is at least as large as its
input, split over the weights instead of the images (``dense_forward``).

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
from .numba_cpu import _JIT, _col2im, _im2col, _maxpool_2x2, _maxpool_2x2_backward
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
    _im2col(x[lo:hi], cols, *geom.as_ints())
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
    cols = (np.empty((n * pixels, w2.shape[0]), dtype=dtype)
            if keep_cols and w2.shape[0] <= KEEP_NARROW_COLS and not geom.is_pointwise else None)

    def part(lo, hi):
        # im2col rows of one chunk (a 1x1 window reads x in place and needs none)
        buffer = None if geom.is_pointwise else np.empty((min(step, hi - lo) * pixels, w2.shape[0]), dtype=dtype)
        out_buffer = np.empty((min(step, hi - lo) * pixels, w2.shape[1]), dtype=dtype) if pool else None
        for s in range(lo, hi, step):
            e = min(hi, s + step)
            rows = out_buffer[:(e - s) * pixels] if pool else y[s * pixels:e * pixels]
            target = buffer if cols is None else cols[s * pixels:]
            np.matmul(_cols(x, s, e, geom, target), w2, out=rows)
            if b is not None or relu:
                _bias_relu(rows, bias, b is not None, relu)
            if pool:
                _maxpool_2x2(rows.reshape(e - s, *conv_shape[1:]), pooled[s:e], cells[s:e])

    over_batch(part, n, max(n * pixels * w2.shape[1], x.size))
    return (pooled, cells, cols) if pool else (y.reshape(conv_shape), cols)


def _backward(x, w, cols, geom: WindowGeometry, needs, dtype, slope_grad):
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
                _col2im(dcols, gx[s:e], *geom.as_ints())
            if needs[1]:
                chunk_cols = _cols(x, s, e, geom, buffer) if cols is None else cols[s * pixels:e * pixels]
                term = np.matmul(chunk_cols.T, gs)
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


# -- Dense --------------------------------------------------------------------------------
ONE_PIXEL = WindowGeometry.make(1, 1, (1, 1), (1, 1), "valid")


def _split_over_weights(x2, w) -> bool:
    """Whether a Dense GEMM is split over its weights rather than its rows: when
    the weight matrix is at least as large as the input. Split over rows, each
    core would pack the whole weight matrix for a GEMM with few rows (the seed
    CNN's 4096x128 Dense: 2 MB for 64 rows each); split over the weights'
    columns (forward) and rows (backward), every core packs only its part."""
    return w.size >= x2.size


def dense_forward(x2, w, b, relu: bool):
    """y = [relu](x2 @ w + b) for x2 (rows, F), as ``ops/dense.py``'s reference."""
    x2 = np.ascontiguousarray(x2)
    w = np.ascontiguousarray(w)
    if not _split_over_weights(x2, w):  # many rows: the chunk loop over one-pixel images
        y, _ = _forward(x2.reshape(-1, 1, 1, x2.shape[1]), w.reshape(1, 1, *w.shape), b, ONE_PIXEL,
                        relu, pool=False, keep_cols=False)
        return y.reshape(x2.shape[0], w.shape[1])
    y = np.empty((x2.shape[0], w.shape[1]), dtype=np.result_type(x2, w))
    bias = _bias(b, w.shape[1], y.dtype)

    def part(lo, hi):  # output units lo..hi-1
        np.matmul(x2, w[:, lo:hi], out=y[:, lo:hi])
        if b is not None or relu:
            _bias_relu(y[:, lo:hi], bias[lo:hi], b is not None, relu)

    over_batch(part, w.shape[1], w.size)
    return y


def dense_backward(g2, x2, w, y2, relu: bool, needs):
    """(dx, dw, db) of ``dense_forward``, as ``ops/dense.py``'s reference. Split
    over the weights, dx and dw are cut along the input features f:
    dx[:, f] = g @ w[f].T, dw[f] = x[:, f].T @ g."""
    g2 = np.ascontiguousarray(g2)
    x2 = np.ascontiguousarray(x2)
    w = np.ascontiguousarray(w)
    y2 = np.ascontiguousarray(y2) if relu else g2
    if not _split_over_weights(x2, w):
        def slope_grad(s, e, out, db):
            _relu_grad_bias_sum(g2[s:e], y2[s:e], relu, out, db)

        gx, gw, gb = _backward(x2.reshape(-1, 1, 1, x2.shape[1]), w.reshape(1, 1, *w.shape), None, ONE_PIXEL,
                               needs, g2.dtype, slope_grad)
        return (None if gx is None else gx.reshape(x2.shape), None if gw is None else gw.reshape(w.shape), gb)
    slope_g, db = np.empty_like(g2), np.zeros(g2.shape[1], np.float64)
    _relu_grad_bias_sum(g2, y2, relu, slope_g, db)
    gx = np.empty(x2.shape, g2.dtype) if needs[0] else None
    gw = np.empty(w.shape, g2.dtype) if needs[1] else None

    def part(lo, hi):  # input features lo..hi-1
        if needs[0]:
            np.matmul(slope_g, w[lo:hi].T, out=gx[:, lo:hi])
        if needs[1]:
            np.matmul(x2[:, lo:hi].T, slope_g, out=gw[lo:hi])

    over_batch(part, w.shape[0], w.size)
    return gx, gw, (db.astype(g2.dtype) if needs[2] else None)


# -- Conv2D ---------------------------------------------------------------------------------
def conv2d_forward(x, w, b, geom: WindowGeometry, relu: bool, keep_cols: bool = True):
    """``ops/conv.py::conv2d_reference_forward`` in chunks; returns y and the
    im2col matrix if a narrow one was kept (None otherwise: backward rebuilds it)."""
    return _forward(x, w, b, geom, relu, pool=False, keep_cols=keep_cols)


def conv2d_backward(g, x, w, y, cols, geom: WindowGeometry, relu: bool, needs):
    """``ops/conv.py::conv2d_reference_backward`` in chunks."""
    g2 = np.ascontiguousarray(g).reshape(-1, w.shape[-1])
    y2 = np.ascontiguousarray(y).reshape(g2.shape) if relu else g2
    pixels = geom.out_h * geom.out_w

    def slope_grad(s, e, out, db):
        _relu_grad_bias_sum(g2[s * pixels:e * pixels], y2[s * pixels:e * pixels], relu, out, db)

    return _backward(x, w, cols, geom, needs, g2.dtype, slope_grad)


# -- Conv2D + ReLU + 2x2 max pooling in one pass (ops/conv_pool.py) ------------------------
def conv2d_relu_maxpool_forward(x, w, b, geom: WindowGeometry, pool_geom: WindowGeometry, keep_cols: bool = True):
    """For ``pool_geom.is_2x2_tiling`` only (``ops/conv_pool.py`` checks)."""
    return _forward(x, w, b, geom, relu=True, pool=True, keep_cols=keep_cols)


def conv2d_relu_maxpool_backward(g, cells, pooled, x, w, cols, geom: WindowGeometry,
                                 pool_geom: WindowGeometry, needs):
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

    return _backward(x, w, cols, geom, needs, g.dtype, slope_grad)
