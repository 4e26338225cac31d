"""Reference kernels: plain array code that runs on NumPy or CuPy.

Pooling reuses the windows of ``im2col``: a max pool is the maximum over the
(kh, kw) axes of the window array, an average pool their mean. Backward passes
scatter the gradient into window shape and let ``col2im`` add it up.
"""
from __future__ import annotations

from ...backend import get_array_module
from ..im2col import col2im, col2im_windows, im2col, im2col_windows
from ..shapes import WindowGeometry
from . import kernel, register

register("numpy", "im2col")(im2col)
register("numpy", "col2im")(col2im)


@register("numpy", "conv2d_forward")
def conv2d_forward(x, w, b, geom: WindowGeometry, relu: bool, keep_cols: bool = True):
    """y = [relu](im2col(x) @ w_matrix + b), as (N, oh, ow, C_out).

    Returns y and what backward needs besides x, w and y: the im2col matrix
    (None with ``keep_cols=False``, when no weight gradient will be asked for).
    """
    xp = get_array_module(x)
    if geom.is_pointwise:
        cols = x.reshape(-1, x.shape[3])  # a 1x1 window is the pixel itself: no copy needed
    else:
        cols = kernel("im2col", xp)(x, geom)
    y = cols @ w.reshape(-1, w.shape[-1])
    if b is not None:
        y += b
    if relu:
        xp.maximum(y, 0, out=y)
    return y.reshape(x.shape[0], geom.out_h, geom.out_w, w.shape[-1]), (cols if keep_cols else None)


@register("numpy", "conv2d_backward")
def conv2d_backward(g, x, w, y, cols, geom: WindowGeometry, relu: bool, needs):
    """Gradients (dx, dw, db) of ``conv2d_forward``; ``needs`` says which to compute.

    ReLU's slope is 1 where its output is positive and 0 elsewhere, so the fused
    ReLU needs no mask: ``g * (y > 0)`` is the gradient before the ReLU.
    """
    xp = get_array_module(g)
    if relu:
        g = g * (y > 0)
    g2 = g.reshape(-1, w.shape[-1])
    w2 = w.reshape(-1, w.shape[-1])
    gx = kernel("col2im", xp)(g2 @ w2.T, x.shape, geom) if needs[0] else None
    gw = (cols.T @ g2).reshape(w.shape) if needs[1] else None
    gb = g2.sum(axis=0) if needs[2] else None
    return gx, gw, gb


@register("numpy", "conv2d_relu_maxpool_forward")
def conv2d_relu_maxpool_forward(x, w, b, geom: WindowGeometry, pool_geom: WindowGeometry, keep_cols: bool = True):
    """max_pool(relu(conv(x))): the conv and pooling kernels one after the other.
    Returns the pooled output, each window's winning cell, and the conv's saved
    im2col matrix (None with ``keep_cols=False``)."""
    xp = get_array_module(x)
    y, cols = kernel("conv2d_forward", xp)(x, w, b, geom, True, keep_cols)
    pooled, cells = kernel("maxpool_forward", xp)(y, pool_geom)
    return pooled, cells, cols


@register("numpy", "conv2d_relu_maxpool_backward")
def conv2d_relu_maxpool_backward(g, cells, pooled, x, w, cols, geom: WindowGeometry,
                                 pool_geom: WindowGeometry, needs):
    """The gradient reaches only each window's winner, whose value is the pooled
    value, so ReLU's slope there is ``pooled > 0``: the conv output is not needed."""
    xp = get_array_module(g)
    conv_shape = (x.shape[0], geom.out_h, geom.out_w, w.shape[-1])
    g_conv = kernel("maxpool_backward", xp)(g * (pooled > 0), cells, conv_shape, pool_geom)
    return kernel("conv2d_backward", xp)(g_conv, x, w, None, cols, geom, False, needs)


@register("numpy", "maxpool_forward")
def maxpool_forward(x, geom: WindowGeometry):
    """Max over each window; also returns which window cell won (for backward).

    Padding is -inf so that a padded cell never wins. Ties go to the first cell
    in row-major order, so the gradient reaches exactly one input, as in TF.
    """
    xp = get_array_module(x)
    windows = im2col_windows(x, geom, pad_value=-xp.inf)
    n, oh, ow, kh, kw, c = windows.shape
    flat = windows.reshape(n, oh, ow, kh * kw, c)
    argmax = flat.argmax(axis=3)
    out = xp.take_along_axis(flat, argmax[:, :, :, None, :], axis=3)[:, :, :, 0, :]
    return out, argmax


@register("numpy", "maxpool_backward")
def maxpool_backward(grad, argmax, x_shape, geom: WindowGeometry):
    """Route each output gradient to the input cell that won the max."""
    xp = get_array_module(grad)
    kh, kw = geom.kernel
    n, oh, ow, c = grad.shape
    cells = xp.arange(kh * kw).reshape(1, 1, 1, kh * kw, 1)
    windows = (cells == argmax[:, :, :, None, :]) * grad[:, :, :, None, :]
    return col2im_windows(windows.reshape(n, oh, ow, kh, kw, c), x_shape, geom)


def window_counts(geom: WindowGeometry, xp, dtype):
    """How many real (not padded) input cells each output window covers.

    Keras' average pooling with padding='same' divides by this count, so the
    padded zeros do not pull the average down at the borders.
    """
    ones = xp.ones((1, geom.in_h, geom.in_w, 1), dtype=dtype)
    return im2col(ones, geom).sum(axis=1).reshape(1, geom.out_h, geom.out_w, 1)


@register("numpy", "avgpool_forward")
def avgpool_forward(x, geom: WindowGeometry):
    xp = get_array_module(x)
    windows = im2col_windows(x, geom)
    return windows.sum(axis=(3, 4)) / window_counts(geom, xp, x.dtype)


@register("numpy", "avgpool_backward")
def avgpool_backward(grad, x_shape, geom: WindowGeometry):
    xp = get_array_module(grad)
    share = grad / window_counts(geom, xp, grad.dtype)
    kh, kw = geom.kernel
    windows = xp.broadcast_to(share[:, :, :, None, None, :], share.shape[:3] + (kh, kw, share.shape[3]))
    return col2im_windows(windows, x_shape, geom)


@register("numpy", "relu_forward")
def relu_forward(x):
    """max(x, 0), and the mask of where x passed (the local slope, 1 or 0)."""
    return get_array_module(x).maximum(x, 0), x > 0


@register("numpy", "relu_backward")
def relu_backward(grad, mask):
    return grad * mask


@register("numpy", "adam_update")
def adam_update(w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon):
    """One Adam step in place (formulas in ``minicnn/optimizers.py``).

    ``alpha`` is the bias-corrected step size lr·sqrt(1-β2ᵗ)/(1-β1ᵗ);
    ``v_hat`` is AMSGrad's running maximum of v, or None.
    """
    xp = get_array_module(w)
    m += (g - m) * (1 - beta_1)
    v += (g * g - v) * (1 - beta_2)
    if v_hat is not None:
        xp.maximum(v_hat, v, out=v_hat)
        v = v_hat
    w -= (m * alpha) / (xp.sqrt(v) + epsilon)
