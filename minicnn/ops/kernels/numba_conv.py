"""Conv2D on the CPU: the reference's im2col + GEMM, cut into cache-sized pieces.

Overrides (``kernels/__init__.py`` chooses them): ``conv2d_forward``/``_backward``
for ``ops/conv.py``, ``conv2d_relu_maxpool_forward``/``_backward`` for
``ops/conv_pool.py``, and ``im2col``/``col2im`` for ``ops/im2col.py`` (the
compiled window copies everything here is built on).

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

Every loop is a serial loop over the images it is given (``threads`` hands
each core its own), reads padding implicitly (a bounds test instead of a padded
copy), and is compiled once per dtype and cached on disk.

Nothing the size of the whole im2col matrix is allocated, and the forward
pass keeps no im2col matrix for backward, except a narrow one (a first layer
over 3 colour channels: 27 values per row), which is cheap to keep and,
with so few channels per copy, slow to rebuild. dw and db are summed per
thread, then over the threads in a fixed order.

``conv2d_forward`` sends two kinds of layer elsewhere: 3x3 stride-1 layers
over 8x8 pixels or more to Winograd (``numba_winograd.py``, forward only),
and small padded maps with many channels to one GEMM per kernel tap
(``tapwise_conv.py``, which skips the padding zeros; backward too, and
forward where Winograd does not apply: 4x4 pixels and below, or stride 2).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..shapes import WindowGeometry
from .numba_gemm import (_JIT, _cap, _relu_grad_bias_sum, epilogue, gemm_over_weights_backward,
                         gemm_over_weights_forward, split_over_weights)
from . import numba_winograd, tapwise_conv
from .threads import gemm_size, launch, over_batch


# -- im2col / col2im: the windows, copied without a padded copy of the image ---------------
@njit(inline="always")
def _span(pos, k, stride, dilation, pad, size):
    """Offsets i in [first, stop) whose pixel pos·stride + i·dilation - pad lies
    inside the image (0 <= pixel < size): the real, unpadded cells of a window."""
    start = pos * stride - pad
    first = max(0, (-start + dilation - 1) // dilation)
    stop = min(k, (size - start + dilation - 1) // dilation)
    return first, max(first, stop)


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
    launch(_im2col, x.shape[0], (np.ascontiguousarray(x), cols), *geom.as_ints())
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
    launch(_col2im, out.shape[0], (np.ascontiguousarray(cols), out), *geom.as_ints())
    return out


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


# -- the Conv2D chunk loops ----------------------------------------------------------------
WINOGRAD_MIN_PIXELS = 64  # output pixels per image (8x8) from which Winograd is used
CHUNK_BYTES = 1 << 20  # im2col buffer per chunk: fits a core's L2 cache
KEEP_NARROW_COLS = 32  # keep im2col matrices this narrow (e.g. 3x3 over RGB: 27) for backward


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


def _forward(x, w, b, geom: WindowGeometry, relu: bool, pool: bool, keep_cols: bool, max_value=None, residual=None):
    """The chunk loop of forward. Without ``pool`` the GEMM writes straight into
    y (and ``residual``, if given, is added in the bias pass); with ``pool``
    (2x2, stride 2) each chunk's output stays in a buffer and only its
    max-pooled values and their window cells are written out."""
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
        r = None if residual is None else np.ascontiguousarray(residual).reshape(y.shape)
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
            epilogue(rows, b, None if pool or r is None else r[s * pixels:e * pixels], relu, max_value)
            if pool:
                _maxpool_2x2(rows.reshape(e - s, *conv_shape[1:]), pooled[s:e], cells[s:e])

    over_batch(part, n, max(n * pixels * w2.shape[1], x.size, gemm_size(n * pixels, *w2.shape)))
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

    results = over_batch(part, n, max(n * pixels * w2.shape[1], x.size, gemm_size(n * pixels, *w2.shape)))
    gw, gb = results[0]
    for part_gw, part_gb in results[1:]:  # in part order: the same sum every run
        gb += part_gb
        if needs[1]:
            gw += part_gw
    return (gx, gw.reshape(w.shape) if needs[1] else None,
            gb.astype(dtype) if needs[2] else None)


# -- Conv2D ---------------------------------------------------------------------------------
def _wide(x, w, geom: WindowGeometry) -> bool:
    """A convolution whose weights outweigh its im2col matrix (many channels
    over few pixels: VGG's and ResNet's last stages at small inputs) is one
    im2col and one GEMM split over the weights (``numba_gemm.py``)."""
    return split_over_weights(x.shape[0] * geom.out_h * geom.out_w, w.shape[0] * w.shape[1] * w.shape[2], w)


def _whole_cols(x, geom: WindowGeometry):
    return np.ascontiguousarray(x).reshape(-1, x.shape[3]) if geom.is_pointwise else im2col(x, geom)


def _winograd_pays(x, w, geom: WindowGeometry) -> bool:
    """Winograd (``numba_winograd.py``) wins over im2col and the per-tap GEMMs
    for 3x3 stride-1 windows from 8x8 pixels and 16 channels; over fewer pixels
    its 16 small GEMMs each pack their own weights for a few rows, and it is
    level (4x4) or loses (2x2) (``python -m benchmarks.winograd`` measures all three)."""
    return (numba_winograd.applies(geom) and geom.out_h * geom.out_w >= WINOGRAD_MIN_PIXELS
            and x.shape[3] >= numba_winograd.MIN_CHANNELS and not _wide(x, w, geom))


def conv2d_forward(x, w, b, geom: WindowGeometry, relu: bool, keep_cols: bool = True, max_value=None,
                   residual=None):
    """``ops/conv.py::conv2d_reference_forward`` in chunks, or with Winograd's
    F(2x2, 3x3), or one GEMM per tap (``tapwise_conv.py``: a small padded map)
    where that is faster; returns y and the im2col matrix if one was kept (None
    otherwise: backward rebuilds it, or works per tap too). A ``residual``
    (y's shape) is added before the ReLU in the pass that adds the bias."""
    if _winograd_pays(x, w, geom):
        return numba_winograd.winograd_conv2d_forward(x, w, b, geom, relu, keep_cols, max_value, residual)
    if tapwise_conv.pays(x, w, geom):
        return tapwise_conv.tapwise_conv2d_forward(x, w, b, geom, relu, max_value, residual), None
    if _wide(x, w, geom):
        cols = _whole_cols(x, geom)
        r = None if residual is None else np.ascontiguousarray(residual).reshape(-1, w.shape[-1])
        y = gemm_over_weights_forward(cols, np.ascontiguousarray(w.reshape(-1, w.shape[-1])), b, relu, max_value, r)
        return y.reshape(x.shape[0], geom.out_h, geom.out_w, w.shape[-1]), (cols if keep_cols else None)
    return _forward(x, w, b, geom, relu, pool=False, keep_cols=keep_cols, max_value=max_value, residual=residual)


def conv2d_backward(g, x, w, y, cols, geom: WindowGeometry, relu: bool, needs, max_value=None):
    """``ops/conv.py::conv2d_reference_backward`` in chunks (or per tap, as forward;
    dx with Winograd where forward uses it and the window is padded by 1 all round)."""
    if needs[0] and _winograd_pays(x, w, geom) and numba_winograd.input_gradient_applies(w, geom):
        dx, g_pre = numba_winograd.winograd_input_gradient(g, y, w, geom, relu, max_value)
        _, dw, db = conv2d_backward(g_pre, x, w, None, cols, geom, False, (False, needs[1], needs[2]))
        return dx, dw, db
    if tapwise_conv.pays(x, w, geom):
        return tapwise_conv.tapwise_conv2d_backward(g, x, w, y, geom, relu, needs, max_value)
    g2 = np.ascontiguousarray(g).reshape(-1, w.shape[-1])
    y2 = np.ascontiguousarray(y).reshape(g2.shape) if relu else g2
    if _wide(x, w, geom):
        if cols is None and needs[1]:
            cols = _whole_cols(x, geom)
        w2 = np.ascontiguousarray(w.reshape(-1, w.shape[-1]))
        dcols, dw, db = gemm_over_weights_backward(g2, cols, w2, y2, relu, needs, max_value)
        dx = None
        if needs[0]:
            dx = dcols.reshape(x.shape) if geom.is_pointwise else col2im(dcols, x.shape, geom)
        return dx, (None if dw is None else dw.reshape(w.shape)), db
    pixels = geom.out_h * geom.out_w
    cap = _cap(max_value, g2.dtype)

    def slope_grad(s, e, out, db):
        _relu_grad_bias_sum(g2[s * pixels:e * pixels], y2[s * pixels:e * pixels], relu, *cap, out, db)

    return _backward(x, w, cols, geom, needs, g2.dtype, slope_grad)


# -- Conv2D + ReLU + 2x2 max pooling in one pass (ops/conv_pool.py) ------------------------
def _unfused_backward(x, w, geom: WindowGeometry) -> bool:
    """Layers whose convolution runs per tap or split over its weights, forward
    and backward: for them the fused Function convolves, then pools."""
    return tapwise_conv.pays(x, w, geom) or _wide(x, w, geom)


def conv2d_relu_maxpool_forward(x, w, b, geom: WindowGeometry, pool_geom: WindowGeometry, keep_cols: bool = True):
    """For ``pool_geom.is_2x2_tiling`` only (``ops/conv_pool.py`` checks).

    A layer that ``conv2d_forward`` sends per tap or splits over its weights
    is faster that way, then pooled, than through the fused im2col loop, and
    so, without a weight gradient to come (``predict``, a frozen layer), is
    one it sends to Winograd (whose backward is the im2col loop's anyway).
    ``python -m benchmarks.tapwise_conv`` and ``benchmarks.winograd`` measure
    the paths."""
    if _unfused_backward(x, w, geom) or (not keep_cols and _winograd_pays(x, w, geom)):
        y, cols = conv2d_forward(x, w, b, geom, relu=True, keep_cols=keep_cols)
        pooled = np.empty((y.shape[0], pool_geom.out_h, pool_geom.out_w, y.shape[3]), dtype=y.dtype)
        cells = np.empty(pooled.shape, dtype=np.uint8)
        launch(_maxpool_2x2, y.shape[0], (y, pooled, cells))
        return pooled, cells, cols
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
        _relu_grad_bias_sum(g[s:e].reshape(-1, g.shape[3]), pooled[s:e].reshape(-1, g.shape[3]), True, False,
                            g.dtype.type(0), through_relu.reshape(-1, g.shape[3]), db)
        _maxpool_2x2_backward(through_relu, cells[s:e], out.reshape(e - s, *conv_shape))

    if _unfused_backward(x, w, geom):  # the gradient before the pool, then the convolution's own backward
        g_conv = np.empty((x.shape[0], *conv_shape), g.dtype)
        slope_grad(0, x.shape[0], g_conv, np.zeros(conv_shape[2], np.float64))  # its db: conv2d_backward's
        return conv2d_backward(g_conv, x, w, None, cols, geom, False, needs)
    return _backward(x, w, cols, geom, needs, g.dtype, slope_grad)
