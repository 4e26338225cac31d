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
from .activation_ops import relu_in_place, relu_slope
from .conv import wanted_gradients, weight_grad_needed
from .im2col import col2im, im2col
from .kernels import fast_kernel
from .shapes import WindowGeometry


def depthwise_reference_forward(x, w, b, geom: WindowGeometry, relu: bool, keep_cols: bool, max_value=None):
    """y = [relu](Σ_k cols[p, k, c] · w[k, c, m] + b) as (N, oh, ow, C·M), and the
    window matrix cols if the weight gradient will want it."""
    xp = get_array_module(x)
    kh, kw, c, m = w.shape
    cols = im2col(x, geom).reshape(-1, kh * kw, c)  # (P, K, C)
    y = xp.einsum("pkc,kcm->pcm", cols, w.reshape(kh * kw, c, m)).reshape(-1, c * m)
    if b is not None:
        y += b
    if relu:
        relu_in_place(y, max_value)
    return y.reshape(x.shape[0], geom.out_h, geom.out_w, c * m), (cols if keep_cols else None)


def depthwise_reference_backward(g, x, w, y, cols, geom: WindowGeometry, relu: bool, needs, max_value=None):
    """(dx, dw, db) of ``depthwise_reference_forward``; ``needs`` says which to compute."""
    xp = get_array_module(g)
    if relu:
        g = g * relu_slope(y, max_value)
    kh, kw, c, m = w.shape
    g3 = g.reshape(-1, c, m)
    gx = gw = gb = None
    if needs[0]:
        dcols = xp.einsum("pcm,kcm->pkc", g3, w.reshape(kh * kw, c, m)).reshape(-1, kh * kw * c)
        gx = col2im(dcols, x.shape, geom)
    if needs[1]:
        gw = xp.einsum("pkc,pcm->kcm", cols, g3).reshape(w.shape)
    if needs[2]:
        gb = g.reshape(-1, c * m).sum(axis=0)
    return gx, gw, gb


class DepthwiseConv2DFunction(Function):
    """y = depthwise_conv(x, w) (+ b) [then ReLU, capped at ``max_value``].
    Inputs: x (N,H,W,C), w (kh,kw,C,M)[, b (C·M,)].

    Fast path: ``kernels/numba_depthwise.py::depthwise_forward``/``depthwise_backward``
    (a direct loop, no window matrix).
    """

    def __init__(self, geom: WindowGeometry, relu: bool = False, max_value=None):
        self.geom, self.relu, self.max_value = geom, relu, max_value

    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        fast = fast_kernel("depthwise_forward", x)
        if fast is not None:
            y, self.cols = fast(x, w, b, self.geom, self.relu, self.max_value), None
        else:
            y, self.cols = depthwise_reference_forward(x, w, b, self.geom, self.relu, weight_grad_needed(self),
                                                       self.max_value)
        self.y = y if self.relu else None
        return y

    def backward(self, g):
        needs = wanted_gradients(self)
        fast = fast_kernel("depthwise_backward", g)
        if fast is not None:
            grads = fast(g, self.x, self.w, self.y, self.geom, self.relu, needs, self.max_value)
        else:
            grads = depthwise_reference_backward(g, self.x, self.w, self.y, self.cols, self.geom, self.relu,
                                                 needs, self.max_value)
        return grads[:len(self.needs_input_grad)]


def depthwise_conv2d(x, w, b=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1), layer="depthwise",
                     relu=False, max_value=None, pads=None):
    """Depthwise-convolve NHWC ``x`` with a (kh, kw, C, M) kernel ``w`` (then
    ReLU, capped at ``max_value``, with ``relu=True``), differentiably. ``pads``:
    explicit zero padding with padding='valid' (a folded ZeroPadding2D)."""
    geom = WindowGeometry.make(x.shape[1], x.shape[2], w.shape[:2], strides, padding,
                               dilation_rate, layer=layer, pads=pads)
    fn = DepthwiseConv2DFunction(geom, relu, max_value)
    return fn(x, w) if b is None else fn(x, w, b)
