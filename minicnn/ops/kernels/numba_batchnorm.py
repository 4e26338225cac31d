"""BatchNormalization on the CPU over channels-last data: few passes, no temporaries.

Overrides (``kernels/__init__.py`` chooses them): ``batchnorm_forward`` and
``batchnorm_backward`` for ``ops/batchnorm.py``, whose reference is a chain of
NumPy expressions (about six passes over the activations forward and a dozen
backward, each writing a temporary). Here x is seen as (rows, C), one row per
pixel, and:

* training forward: one pass sums each channel, a second its squared
  deviations from the mean (two passes, not E[x²] - E[x]²: no cancellation),
  a third writes y = x·scale + shift;
* inference forward: the third pass alone;
* backward: one pass sums g and g·x̂ per channel, a second writes
  dx = inv·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) with ĝ = g·γ (training), or dx = ĝ·inv;
  with a ReLU fused in, both passes first take g through its slope (read off
  the output), so neither the ReLU's gradient nor its mask is ever stored.

Channel sums are taken per core over its own rows (``threads.over_batch``), in
float64, then added in part order.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .numba_gemm import _JIT, _cap
from .threads import over_batch


@njit(**_JIT)
def _sum(x, out):
    rows, c = x.shape
    for r in range(rows):
        for ch in range(c):
            out[ch] += x[r, ch]


@njit(**_JIT)
def _squared_deviation_sum(x, mean, out):
    rows, c = x.shape
    for r in range(rows):
        for ch in range(c):
            d = x[r, ch] - mean[ch]
            out[ch] += d * d


@njit(**_JIT)
def _affine(x, scale, shift, relu, has_cap, cap, y):
    """y = x·scale + shift per channel, then ReLU (capped) if asked."""
    rows, c = x.shape
    for r in range(rows):
        for ch in range(c):
            v = x[r, ch] * scale[ch] + shift[ch]
            if relu:
                v = 0 if v < 0 else v  # NaN passes through, as np.maximum
                v = cap if has_cap and v > cap else v
            y[r, ch] = v


@njit(inline="always")
def _through_relu(g, y, relu, has_cap, cap):
    """g times the fused ReLU's slope, read off its output y: 1 where 0 < y
    (and y < cap), else 0; g itself without a ReLU."""
    return g if (not relu or (y > 0 and not (has_cap and y >= cap))) else g * 0


@njit(**_JIT)
def _gradient_sums(g, y, x, mean, inv, relu, has_cap, cap, sum_g, sum_g_xhat):
    """Σ g and Σ g·x̂ per channel, g taken through the fused ReLU (if any) first."""
    rows, c = g.shape
    for r in range(rows):
        for ch in range(c):
            gr = _through_relu(g[r, ch], y[r, ch], relu, has_cap, cap)
            sum_g[ch] += gr
            sum_g_xhat[ch] += gr * ((x[r, ch] - mean[ch]) * inv[ch])


@njit(**_JIT)
def _input_gradient(g, y, x, mean, inv, relu, has_cap, cap, gamma_inv, mean_g, mean_g_xhat, dx):
    """dx = γ·inv·(g - mean(g) - x̂·mean(g·x̂)), the three gradient paths of a
    batch-statistics BN in one expression (γ per channel factors out), g taken
    through the fused ReLU (if any) first."""
    rows, c = g.shape
    for r in range(rows):
        for ch in range(c):
            xhat = (x[r, ch] - mean[ch]) * inv[ch]
            gr = _through_relu(g[r, ch], y[r, ch], relu, has_cap, cap)
            dx[r, ch] = gamma_inv[ch] * (gr - mean_g[ch] - xhat * mean_g_xhat[ch])


def _channel_sums(loop, rows, arrays, per_channel, c):
    """Each core's float64 channel sums of ``loop`` over its rows, added in part order."""
    def part(lo, hi):
        outs = [np.zeros(c, np.float64) for _ in range(per_channel)]
        loop(*(a[lo:hi] for a in arrays[0]), *arrays[1], *outs)
        return outs

    parts = over_batch(part, rows, rows * c)
    totals = parts[0]
    for more in parts[1:]:
        for total, extra in zip(totals, more):
            total += extra
    return totals


def _rows_map(loop, rows, row_arrays, channel_arrays, out):
    def part(lo, hi):
        loop(*(a[lo:hi] for a in row_arrays), *channel_arrays, out[lo:hi])

    over_batch(part, rows, out.size)


def batchnorm_forward(x2, gamma, beta, epsilon, stats=None, relu=False, max_value=None):
    """(y, mean, var) for x2 (rows, C): batch statistics when ``stats`` is None,
    else ``stats`` = (mean, var) as given. gamma/beta: (C,) arrays. With
    ``relu``, y goes through ReLU (capped at ``max_value``) in the same pass."""
    x2 = np.ascontiguousarray(x2)
    rows, c = x2.shape
    dtype = x2.dtype
    if stats is None:
        (total,) = _channel_sums(_sum, rows, ((x2,), ()), 1, c)
        mean = (total / rows).astype(dtype)
        (deviation,) = _channel_sums(_squared_deviation_sum, rows, ((x2,), (mean,)), 1, c)
        var = (deviation / rows).astype(dtype)
    else:
        mean, var = (np.ascontiguousarray(s, dtype=dtype).reshape(-1) for s in stats)
    inv = (1.0 / np.sqrt(var + dtype.type(epsilon))).astype(dtype)
    scale = (inv * gamma).astype(dtype)
    shift = (beta - mean * scale).astype(dtype)
    y = np.empty_like(x2)
    _rows_map(_affine, rows, (x2,), (scale, shift, relu, *_cap(max_value, dtype)), y)
    return y, mean, var


def batchnorm_backward(g2, x2, mean, var, gamma, epsilon, batch_stats: bool, needs, y2=None, max_value=None):
    """(dx, dgamma, dbeta) of ``batchnorm_forward``; ``needs`` says which to
    compute. ``y2``: the output, when a ReLU was fused in (its slope is read off it)."""
    g2 = np.ascontiguousarray(g2)
    x2 = np.ascontiguousarray(x2)
    rows, c = g2.shape
    dtype = g2.dtype
    inv = (1.0 / np.sqrt(var + dtype.type(epsilon))).astype(dtype)
    # through the fused ReLU first, in both passes (no array of g·slope is written); without one, y is unread
    rows_in = (g2, g2 if y2 is None else np.ascontiguousarray(y2), x2)
    relu_args = (y2 is not None, *_cap(max_value, dtype))
    sum_g, sum_g_xhat = _channel_sums(_gradient_sums, rows, (rows_in, (mean, inv, *relu_args)), 2, c)
    dx = None
    if needs[0]:
        dx = np.empty_like(g2)
        gamma_inv = (gamma * inv).astype(dtype)
        if batch_stats:
            mean_g, mean_g_xhat = (sum_g / rows).astype(dtype), (sum_g_xhat / rows).astype(dtype)
        else:  # fixed statistics: y is affine in x
            mean_g = mean_g_xhat = np.zeros(c, dtype)
        _rows_map(_input_gradient, rows, rows_in, (mean, inv, *relu_args, gamma_inv, mean_g, mean_g_xhat), dx)
    return (dx, sum_g_xhat.astype(dtype) if needs[1] else None, sum_g.astype(dtype) if needs[2] else None)
