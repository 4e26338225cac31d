"""3x3 stride-1 Conv2D forward with Winograd's F(2x2, 3x3): 2.25x fewer multiplications.

Override (``kernels/__init__.py`` chooses it): ``winograd_conv2d_forward`` for
``ops/conv.py``'s forward pass, when the window is 3x3, stride 1, dilation 1
(VGG's and ResNet's 3x3 convolutions); in backward dx, which for a window
padded by 1 all round is the same kind of convolution
(``winograd_input_gradient``); dw keeps the im2col or per-tap path.

Im2col computes each output pixel as a dot product over its 3x3 window: 9
multiplications per pixel, input channel and filter. Winograd computes a 2x2
block of outputs from the 4x4 block of inputs it depends on with 16 instead of
36, by transforming both into a space where the convolution is an elementwise
product (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
2016)::

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A          d: 4x4 input tile, g: 3x3 kernel, Y: 2x2 outputs

        ⎡1  0 -1  0⎤        ⎡ 1    0    0 ⎤        ⎡1  1  1  0⎤
   Bᵀ = ⎢0  1  1  0⎥    G = ⎢1/2  1/2  1/2⎥   Aᵀ = ⎣0  1 -1 -1⎦
        ⎢0 -1  1  0⎥        ⎢1/2 -1/2  1/2⎥
        ⎣0  1  0 -1⎦        ⎣ 0    0    1 ⎦

Summed over input channels, the ⊙ becomes 16 independent GEMMs, one per
position k of the 4x4 transformed tile: M[k] = V[k] (tiles x C) @ U[k] (C x F).
So a core takes its images, transforms their tiles (``_input_tiles``: V),
runs the 16 GEMMs on BLAS, and transforms back (``_output_tiles``, adding the
bias and ReLU). The transforms only add and subtract; the GEMMs do 16/36 of
im2col's multiplications. Results equal the reference to float32 rounding
(the transforms reorder the sums), tested in ``tests/test_kernels_winograd.py``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..shapes import WindowGeometry
from .numba_gemm import _JIT, _bias, _cap, _relu_grad_bias_sum, epilogue
from .threads import gemm_size, over_batch

CHUNK_BYTES = 4 << 20  # transformed tiles per chunk of images
MIN_CHANNELS = 16  # channels in from which Winograd is used (few: the transforms dominate)


def applies(geom: WindowGeometry) -> bool:
    """3x3 windows, stride 1, no dilation ('same' or 'valid' padding)."""
    return geom.kernel == (3, 3) and geom.strides == (1, 1) and geom.dilation == (1, 1)


def kernel_transform(w):
    """U[k] = (G g Gᵀ) at the 16 positions k of the 4x4 tile: (16, C, F) from (3, 3, C, F).

    Each U[4a + b] is Σ_ij G[a, i] G[b, j] g[i, j]: one (16, 9) matrix, the
    Kronecker product G ⊗ G, times the kernel seen as (9, C·F), its columns
    split across the cores. ``np.einsum`` over the four-index form took as
    long as the layer's own GEMMs (``python -m benchmarks.winograd``)."""
    g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=w.dtype)
    g_kron_g, w9 = np.kron(g, g), np.ascontiguousarray(w).reshape(9, -1)
    u = np.empty((16, w9.shape[1]), dtype=w.dtype)

    def part(lo, hi):
        np.matmul(g_kron_g, w9[:, lo:hi], out=u[:, lo:hi])

    over_batch(part, w9.shape[1], u.size)
    return u.reshape(16, *w.shape[2:])


@njit(**_JIT)
def _input_tiles(x, v, top, left, tiles_h, tiles_w):
    """V[k, tile, c] = (Bᵀ d B)[k] for every 4x4 input tile d of these images."""
    n, h, w, c = x.shape
    d = np.empty((4, 4, c), x.dtype)
    t = np.empty((4, 4, c), x.dtype)
    for img in range(n):
        for ty in range(tiles_h):
            for tx in range(tiles_w):
                tile = (img * tiles_h + ty) * tiles_w + tx
                for i in range(4):
                    r = 2 * ty + i - top
                    for j in range(4):
                        s = 2 * tx + j - left
                        if 0 <= r < h and 0 <= s < w:
                            for ch in range(c):
                                d[i, j, ch] = x[img, r, s, ch]
                        else:
                            for ch in range(c):
                                d[i, j, ch] = 0
                for j in range(4):  # t = Bᵀ d (rows)
                    for ch in range(c):
                        d0, d1, d2, d3 = d[0, j, ch], d[1, j, ch], d[2, j, ch], d[3, j, ch]
                        t[0, j, ch] = d0 - d2
                        t[1, j, ch] = d1 + d2
                        t[2, j, ch] = d2 - d1
                        t[3, j, ch] = d1 - d3
                for i in range(4):  # V = t B (columns)
                    for ch in range(c):
                        t0, t1, t2, t3 = t[i, 0, ch], t[i, 1, ch], t[i, 2, ch], t[i, 3, ch]
                        v[4 * i + 0, tile, ch] = t0 - t2
                        v[4 * i + 1, tile, ch] = t1 + t2
                        v[4 * i + 2, tile, ch] = t2 - t1
                        v[4 * i + 3, tile, ch] = t1 - t3


@njit(**_JIT)
def _output_tiles(m, y, b, has_bias, relu, has_cap, cap, tiles_h, tiles_w):
    """y's 2x2 block of each tile = Aᵀ M A (+ b, then ReLU); blocks over the edge are cut."""
    n, oh, ow, f = y.shape
    t = np.empty((2, 4, f), y.dtype)
    for img in range(n):
        for ty in range(tiles_h):
            for tx in range(tiles_w):
                tile = (img * tiles_h + ty) * tiles_w + tx
                for j in range(4):  # t = Aᵀ M (rows)
                    for ch in range(f):
                        m0, m1, m2, m3 = m[j, tile, ch], m[4 + j, tile, ch], m[8 + j, tile, ch], m[12 + j, tile, ch]
                        t[0, j, ch] = m0 + m1 + m2
                        t[1, j, ch] = m1 - m2 - m3
                for i in range(2):  # Y = t A (columns)
                    r = 2 * ty + i
                    if r >= oh:
                        continue
                    for jj in range(2):
                        s = 2 * tx + jj
                        if s >= ow:
                            continue
                        for ch in range(f):
                            if jj == 0:
                                v = t[i, 0, ch] + t[i, 1, ch] + t[i, 2, ch]
                            else:
                                v = t[i, 1, ch] - t[i, 2, ch] - t[i, 3, ch]
                            if has_bias:
                                v += b[ch]
                            if relu:
                                v = 0 if v < 0 else v
                                v = cap if has_cap and v > cap else v
                            y[img, r, s, ch] = v


def winograd_conv2d_forward(x, w, b, geom: WindowGeometry, relu: bool, keep_cols: bool = True, max_value=None,
                            residual=None):
    """``ops/conv.py::conv2d_reference_forward`` for a 3x3 stride-1 window; keeps no im2col matrix.
    A ``residual`` is added (then the ReLU taken) in one more pass over each
    chunk's output while it is in cache."""
    x = np.ascontiguousarray(x)
    residual = None if residual is None else np.ascontiguousarray(residual)
    n, c, f = x.shape[0], x.shape[3], w.shape[3]
    dtype = np.result_type(x, w)
    u = kernel_transform(w.astype(dtype, copy=False))
    bias = _bias(b, f, dtype)
    tiles_h, tiles_w = -(-geom.out_h // 2), -(-geom.out_w // 2)
    y = np.empty((n, geom.out_h, geom.out_w, f), dtype=dtype)
    top, left = geom.pads[0][0], geom.pads[1][0]

    per_image = 16 * tiles_h * tiles_w * max(c, f) * x.itemsize
    step = max(1, CHUNK_BYTES // per_image)

    def part(lo, hi):  # images lo..hi-1, a few at a time: the transformed tiles stay near the cache
        for s in range(lo, hi, step):
            e = min(hi, s + step)
            v = np.empty((16, (e - s) * tiles_h * tiles_w, c), dtype)
            _input_tiles(x[s:e], v, top, left, tiles_h, tiles_w)
            m = np.matmul(v, u)
            _output_tiles(m, y[s:e], bias, b is not None, relu and residual is None, *_cap(max_value, dtype),
                          tiles_h, tiles_w)
            if residual is not None:
                epilogue(y[s:e].reshape(-1, f), None, residual[s:e].reshape(-1, f), relu, max_value)

    over_batch(part, n, max(x.size, y.size, gemm_size(16 * n * tiles_h * tiles_w, c, f)))
    return y, None


def input_gradient_applies(w, geom: WindowGeometry) -> bool:
    """dx as a Winograd convolution: a window padded by 1 on every side (so
    dx is g's 'same' convolution) and, as forward, ``MIN_CHANNELS`` in g at least."""
    return applies(geom) and geom.pads == ((1, 1), (1, 1)) and w.shape[3] >= MIN_CHANNELS


def winograd_input_gradient(g, y, w, geom: WindowGeometry, relu: bool, max_value=None):
    """(dL/dx, g') of a 3x3 stride-1 convolution padded by 1 on every side,
    given g = dL/dy and its output y; g' is g before the fused ReLU (its
    slope read off y), which dx is the convolution of, with the kernel
    turned 180 degrees and its channel axes swapped,

        dx[p] = Σ_k g'[p + k - 1] @ w[2 - k]ᵀ      (k over the 3x3 window),

    so it runs on the same Winograd forward."""
    g_pre = _through_relu(g, y, max_value) if relu else g
    flipped = np.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))
    dx, _ = winograd_conv2d_forward(g_pre, flipped, None, geom, False, False)
    return dx, g_pre


def _through_relu(g, y, max_value):
    """g times ReLU's slope read off its output y, split over the cores."""
    g2, y2 = np.ascontiguousarray(g).reshape(-1, g.shape[-1]), np.ascontiguousarray(y).reshape(-1, g.shape[-1])
    out = np.empty_like(g2)

    def part(lo, hi):  # the bias sum it also takes is not wanted here
        _relu_grad_bias_sum(g2[lo:hi], y2[lo:hi], True, *_cap(max_value, g2.dtype), out[lo:hi],
                            np.zeros(g2.shape[1], np.float64))

    over_batch(part, g2.shape[0], g2.size)
    return out.reshape(g.shape)
