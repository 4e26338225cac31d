"""GPU kernels written in Python with ``numba.cuda``, one per GPU override.

Each kernel is the GPU twin of a loop in ``numba_cpu.py`` and computes exactly
what the reference code it overrides computes (``ops/im2col.py``,
``ops/pool.py``, ReLU in ``ops/activation_ops.py``, ``Adam.update``). The GPU runs thousands of threads at once, so
each kernel is written from the point of view of *one output element*:

* a thread finds its element from its global index ``cuda.grid(1)``, and a
  "grid-stride loop" (``for k in range(start, total, stride)``) lets any grid
  size cover any array size;
* padding is never materialised: a window cell outside the image reads as 0
  (or -inf for max pooling) through a bounds test;
* the adjoints (col2im, pooling backward) are written as a *gather*: each
  thread owns one input pixel and sums what every window covering it sends
  back. No two threads write the same address, so no atomics are needed and
  the sums come out in a fixed order (deterministic, unlike atomicAdd).

Which windows cover input row ``y``? Window row ``oy`` reads rows
``oy·sh + i·dh - top`` for kernel rows ``i``; solving for ``oy`` gives
``oy = (y + top - i·dh) / sh``, valid when the division is exact and
``0 <= oy < out_h``. Columns work the same way.

The launch helpers at the bottom take any array ``numba.cuda`` accepts: CuPy
arrays wrapped by ``cupy_gpu.py`` on a GPU, plain NumPy arrays in Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``), where the tests run every kernel
against the reference on a machine without a GPU. Outputs are preallocated by
the caller, so the same helpers serve both.
"""
from __future__ import annotations

import math

from numba import config, cuda


SIMULATED = bool(config.ENABLE_CUDASIM)
# the simulator runs every thread as a Python thread: keep its grids tiny
_THREADS, _MAX_BLOCKS = (16, 3) if SIMULATED else (256, 4096)


# -- index helpers (device functions: inlined into the kernels) ---------------------------
@cuda.jit(device=True)
def _unravel(k, h, w, c):
    """Flat index -> (batch, row, column, channel) of an NHWC array."""
    return k // (c * w * h), (k // (c * w)) % h, (k // c) % w, k % c


@cuda.jit(device=True)
def _covering(p, i, dilation, stride, pad, out_len):
    """The window that reads input position ``p`` with its kernel cell ``i``, or -1."""
    q = p + pad - i * dilation
    if q < 0 or q % stride != 0 or q // stride >= out_len:
        return -1
    return q // stride


# -- im2col / col2im ------------------------------------------------------------------
@cuda.jit
def _im2col(x, cols, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    n, h, w, c = x.shape
    k_cols = kh * kw * c
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for k in range(start, cols.shape[0] * k_cols, stride):
        row, col = k // k_cols, k % k_cols
        ch, cell = col % c, col // c
        i, j = cell // kw, cell % kw
        b, pix = row // (oh * ow), row % (oh * ow)
        r = (pix // ow) * sh + i * dh - top
        s = (pix % ow) * sw + j * dw - left
        cols[row, col] = x[b, r, s, ch] if 0 <= r < h and 0 <= s < w else 0


@cuda.jit
def _col2im(cols, out, zero, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    n, h, w, c = out.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for k in range(start, out.size, stride):
        b, r, s, ch = _unravel(k, h, w, c)
        acc = zero  # typed like the data: sums in the reference's precision and order
        for i in range(kh):
            oy = _covering(r, i, dh, sh, top, oh)
            if oy < 0:
                continue
            for j in range(kw):
                ox = _covering(s, j, dw, sw, left, ow)
                if ox < 0:
                    continue
                acc += cols[(b * oh + oy) * ow + ox, (i * kw + j) * c + ch]
        out[b, r, s, ch] = acc


# -- pooling -------------------------------------------------------------------------------
@cuda.jit
def _maxpool(x, out, arg, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """Max of each window and the winning cell (first in row-major order wins,
    a NaN beats everything, padded cells count as -inf: all as np.argmax does)."""
    n, h, w, c = x.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for k in range(start, out.size, stride):
        b, oy, ox, ch = _unravel(k, oh, ow, c)
        best, win = -math.inf, 0
        for i in range(kh):
            r = oy * sh + i * dh - top
            for j in range(kw):
                s = ox * sw + j * dw - left
                v = x[b, r, s, ch] if 0 <= r < h and 0 <= s < w else -math.inf
                if (i == 0 and j == 0) or (best == best and (v > best or v != v)):
                    best, win = v, i * kw + j
        out[b, oy, ox, ch] = best
        arg[b, oy, ox, ch] = win


@cuda.jit
def _maxpool_backward(g, arg, out, zero, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """Each input pixel gathers the gradients of the windows it won."""
    n, h, w, c = out.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for k in range(start, out.size, stride):
        b, r, s, ch = _unravel(k, h, w, c)
        acc = zero
        for i in range(kh):
            oy = _covering(r, i, dh, sh, top, oh)
            if oy < 0:
                continue
            for j in range(kw):
                ox = _covering(s, j, dw, sw, left, ow)
                if ox < 0:
                    continue
                if arg[b, oy, ox, ch] == i * kw + j:
                    acc += g[b, oy, ox, ch]
        out[b, r, s, ch] = acc


@cuda.jit(device=True)
def _real_cells(o, k, stride, dilation, pad, size):
    """How many of a window's ``k`` cells along one axis fall inside the image."""
    count = 0
    for i in range(k):
        p = o * stride + i * dilation - pad
        if 0 <= p < size:
            count += 1
    return count


@cuda.jit
def _avgpool(x, out, zero, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """Mean over the real (not padded) cells of each window, as Keras' 'same'."""
    n, h, w, c = x.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for k in range(start, out.size, stride):
        b, oy, ox, ch = _unravel(k, oh, ow, c)
        acc = zero
        for i in range(kh):
            r = oy * sh + i * dh - top
            for j in range(kw):
                s = ox * sw + j * dw - left
                if 0 <= r < h and 0 <= s < w:
                    acc += x[b, r, s, ch]
        cells = _real_cells(oy, kh, sh, dh, top, h) * _real_cells(ox, kw, sw, dw, left, w)
        out[b, oy, ox, ch] = acc / cells


@cuda.jit
def _avgpool_backward(g, out, zero, kh, kw, sh, sw, dh, dw, top, left, oh, ow):
    """Each input pixel gathers its share g / cells of every window covering it."""
    n, h, w, c = out.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for k in range(start, out.size, stride):
        b, r, s, ch = _unravel(k, h, w, c)
        acc = zero
        for i in range(kh):
            oy = _covering(r, i, dh, sh, top, oh)
            if oy < 0:
                continue
            rows = _real_cells(oy, kh, sh, dh, top, h)
            for j in range(kw):
                ox = _covering(s, j, dw, sw, left, ow)
                if ox < 0:
                    continue
                cells = rows * _real_cells(ox, kw, sw, dw, left, w)
                acc += g[b, oy, ox, ch] / cells
        out[b, r, s, ch] = acc


# -- elementwise: ReLU, bias + activation, optimizer updates ------------------------------
@cuda.jit
def _relu(x, y, mask):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for k in range(start, x.size, stride):
        v = x[k]
        mask[k] = v > 0
        y[k] = 0 if v < 0 else v  # NaN passes through, as with maximum(x, 0)


@cuda.jit
def _relu_backward(g, mask, out):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for k in range(start, g.size, stride):
        out[k] = g[k] if mask[k] else 0 * g[k]  # 0·g keeps NaN gradients NaN, as g * mask


@cuda.jit(device=True)
def _adam_step(w, g, m, v, v_hat, use_v_hat, k, alpha, one_minus_b1, one_minus_b2, eps):
    gk = g[k]
    mk = m[k] + (gk - m[k]) * one_minus_b1
    vk = v[k] + (gk * gk - v[k]) * one_minus_b2
    m[k], v[k] = mk, vk
    if use_v_hat:
        vk = max(v_hat[k], vk)
        v_hat[k] = vk
    w[k] -= (mk * alpha) / (math.sqrt(vk) + eps)


@cuda.jit
def _adam(w, g, m, v, v_hat, use_v_hat, alpha, one_minus_b1, one_minus_b2, eps):
    """One Adam step in place over flat arrays; ``alpha`` a number."""
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for k in range(start, w.size, stride):
        _adam_step(w, g, m, v, v_hat, use_v_hat, k, alpha, one_minus_b1, one_minus_b2, eps)


@cuda.jit
def _adam_device_alpha(w, g, m, v, v_hat, use_v_hat, alpha, one_minus_b1, one_minus_b2, eps):
    """The same step with ``alpha`` read from device memory (``alpha[0]``), so a
    captured CUDA graph can replay it while the host changes alpha every step."""
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for k in range(start, w.size, stride):
        _adam_step(w, g, m, v, v_hat, use_v_hat, k, alpha[0], one_minus_b1, one_minus_b2, eps)


# -- launch helpers: preallocated outputs, any array numba.cuda accepts ---------------------
def _launch(kernel, total, stream, *args):
    """Run ``kernel`` over ``total`` elements on ``stream`` (0: the default stream)."""
    blocks = max(1, min(-(-total // _THREADS), _MAX_BLOCKS))
    kernel[blocks, _THREADS, stream](*args)


def im2col(x, cols, geom, stream=0):
    _launch(_im2col, cols.size, stream, x, cols, *geom.as_ints())


def col2im(cols, out, geom, stream=0):
    _launch(_col2im, out.size, stream, cols, out, out.dtype.type(0), *geom.as_ints())


def maxpool_forward(x, out, argmax, geom, stream=0):
    _launch(_maxpool, out.size, stream, x, out, argmax, *geom.as_ints())


def maxpool_backward(grad, argmax, out, geom, stream=0):
    _launch(_maxpool_backward, out.size, stream, grad, argmax, out, out.dtype.type(0), *geom.as_ints())


def avgpool_forward(x, out, geom, stream=0):
    _launch(_avgpool, out.size, stream, x, out, out.dtype.type(0), *geom.as_ints())


def avgpool_backward(grad, out, geom, stream=0):
    _launch(_avgpool_backward, out.size, stream, grad, out, out.dtype.type(0), *geom.as_ints())


def relu_forward(x, y, mask, stream=0):
    """Flat (1-D) arrays: ``y = max(x, 0)``, ``mask = x > 0``."""
    _launch(_relu, x.size, stream, x, y, mask)


def relu_backward(grad, mask, out, stream=0):
    _launch(_relu_backward, grad.size, stream, grad, mask, out)


def adam_update(w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon, stream=0):
    """Flat arrays, updated in place. ``v_hat`` None unless AMSGrad; ``alpha`` a
    number, or a one-element device array (then read on the device)."""
    t = w.dtype.type
    scalars = (t(1 - beta_1), t(1 - beta_2), t(epsilon))
    hat = m[:0] if v_hat is None else v_hat  # an empty stand-in: never read, aliases nothing
    if getattr(alpha, "ndim", 0):
        _launch(_adam_device_alpha, w.size, stream, w, g, m, v, hat, v_hat is not None, alpha, *scalars)
    else:
        _launch(_adam, w.size, stream, w, g, m, v, hat, v_hat is not None, t(alpha), *scalars)
