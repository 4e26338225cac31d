"""Depthwise 2-D convolution: one small filter per input channel.

A normal convolution mixes every input channel into every output channel. A
depthwise convolution does not mix channels at all: channel c is filtered by
its own ``depth_multiplier`` (M) kernels, giving C·M output channels. With a
kernel w of shape (kh, kw, C, M) (Keras' layout)::

    y[n, i, j, c·M + m] = Σ_{a,b} x_pad[n, i·s + a, j·s + b, c] · w[a, b, c, m]

It reuses im2col's window matrix, viewed as (P, K, C) with P = N·oh·ow output
pixels and K = kh·kw window offsets. Where Conv2D contracts over (K, C) in one
GEMM, depthwise contracts over K only, separately for each channel::

    y[p, c, m]    = Σ_k cols[p, k, c] · w[k, c, m]
    dL/dw[k, c, m] = Σ_p cols[p, k, c] · g[p, c, m]
    dL/dcols[p, k, c] = Σ_m g[p, c, m] · w[k, c, m]   -> col2im -> dL/dx

That is C independent (P x K) @ (K x M) products: cheap (no channel mixing),
which is why MobileNet pairs it with a 1x1 "pointwise" Conv2D.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from .im2col import col2im, im2col
from .shapes import WindowGeometry


class DepthwiseConv2DFunction(Function):
    """y = depthwise_conv(x, w) (+ b). Inputs: x (N,H,W,C), w (kh,kw,C,M)[, b (C·M,)]."""

    def __init__(self, geom: WindowGeometry):
        self.geom = geom

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        kh, kw, c, m = w.shape
        self.x_shape, self.w = x.shape, w
        cols = im2col(x, self.geom).reshape(-1, kh * kw, c)   # (P, K, C)
        self.cols = cols
        y = xp.einsum("pkc,kcm->pcm", cols, w.reshape(kh * kw, c, m))
        y = y.reshape(-1, c * m)
        if b is not None:
            y += b
        return y.reshape(x.shape[0], self.geom.out_h, self.geom.out_w, c * m)

    def backward(self, g):
        xp = get_array_module(g)
        kh, kw, c, m = self.w.shape
        g3 = g.reshape(-1, c, m)
        w3 = self.w.reshape(kh * kw, c, m)
        needs = self.needs_input_grad
        gx = gw = gb = None
        if needs[0]:
            dcols = xp.einsum("pcm,kcm->pkc", g3, w3).reshape(-1, kh * kw * c)
            gx = col2im(dcols, self.x_shape, self.geom)
        if needs[1]:
            gw = xp.einsum("pkc,pcm->kcm", self.cols, g3).reshape(self.w.shape)
        if len(needs) > 2 and needs[2]:
            gb = g.reshape(-1, c * m).sum(axis=0)
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)


def depthwise_conv2d(x, w, b=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1), layer="depthwise"):
    """Depthwise-convolve NHWC ``x`` with a (kh, kw, C, M) kernel ``w``, differentiably."""
    geom = WindowGeometry.make(x.shape[1], x.shape[2], w.shape[:2], strides, padding,
                               dilation_rate, layer=layer)
    fn = DepthwiseConv2DFunction(geom)
    return fn(x, w) if b is None else fn(x, w, b)
