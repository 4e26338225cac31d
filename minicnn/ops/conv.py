"""2-D convolution as im2col + one matrix multiply, forward and backward.

Forward, for x (N, H, W, C_in) and kernel w (kh, kw, C_in, C_out)::

    cols = im2col(x)                         (N·oh·ow, kh·kw·C_in)
    y    = cols @ w.reshape(-1, C_out) + b   (N·oh·ow, C_out) -> (N, oh, ow, C_out)

Backward, given g = dL/dy reshaped to (N·oh·ow, C_out)::

    dL/dw    = cols.T @ g                    (the same GEMM, transposed)
    dL/db    = g summed over all pixels
    dL/dcols = g @ w_matrix.T  ->  dL/dx = col2im(dL/dcols)

All heavy lifting is two GEMMs (BLAS / cuBLAS) plus im2col/col2im
(``im2col.py``). ``conv2d_reference_forward``/``_backward`` below are exactly
these lines; ``Conv2DFunction`` runs them, or their compiled override on the
CPU, ``kernels/numba_conv.py::conv2d_forward``/``conv2d_backward``, which
computes the same in cache-sized pieces on every core (chosen in
``kernels/__init__.py``; tested equal in ``tests/test_kernels_conv.py``).
"""
from __future__ import annotations

from ..autograd import Function
from .im2col import col2im, im2col
from .activation_ops import relu_in_place, relu_slope
from .kernels import fast_kernel
from .shapes import WindowGeometry


def conv2d_reference_forward(x, w, b, geom: WindowGeometry, relu: bool, keep_cols: bool = True, max_value=None,
                             residual=None):
    """y = [relu](im2col(x) @ w_matrix + b [+ residual]), as (N, oh, ow, C_out);
    the ReLU capped at ``max_value`` if one is given (ReLU6). ``residual`` (y's
    shape) is the other branch of a residual block's Add (``Conv2DAddFunction``).

    Returns y and the im2col matrix ``cols`` that backward needs for dL/dw
    (None with ``keep_cols=False``: no weight gradient will be asked for).
    """
    if geom.is_pointwise:
        cols = x.reshape(-1, x.shape[3])  # a 1x1 window is the pixel itself: no copy needed
    else:
        cols = im2col(x, geom)
    y = cols @ w.reshape(-1, w.shape[-1])
    if b is not None:
        y += b
    y = y.reshape(x.shape[0], geom.out_h, geom.out_w, w.shape[-1])
    if residual is not None:
        y += residual
    if relu:
        relu_in_place(y, max_value)
    return y, (cols if keep_cols else None)


def conv2d_reference_backward(g, x, w, y, cols, geom: WindowGeometry, relu: bool, needs, max_value=None):
    """Gradients (dx, dw, db) of ``conv2d_reference_forward``; ``needs`` says which to compute.

    ReLU's slope is 1 where its output is positive (and below the cap) and 0
    elsewhere, so the fused ReLU needs no mask: ``g * relu_slope(y)`` is the
    gradient before the ReLU.
    """
    if relu:
        g = g * relu_slope(y, max_value)
    g2 = g.reshape(-1, w.shape[-1])
    w2 = w.reshape(-1, w.shape[-1])
    gx = col2im(g2 @ w2.T, x.shape, geom) if needs[0] else None
    gw = (cols.T @ g2).reshape(w.shape) if needs[1] else None
    gb = g2.sum(axis=0) if needs[2] else None
    return gx, gw, gb


class Conv2DFunction(Function):
    """y = conv(x, w) (+ b), optionally followed by ReLU. Inputs: x, w[, b].

    ReLU is fused in when the layer asks for it (``Conv2D(activation='relu')``,
    or a ReLU/ReLU6 layer after it in a graph run for inference, see
    ``models/inference.py``): adding the bias and cutting negatives (and capping
    at ``max_value``) then happen in one pass over y, and backward reads the
    slope off y instead of keeping a mask. ``cols`` is the
    im2col matrix if forward kept one for backward (the reference does; the
    Numba kernels recompute it piece by piece and keep only narrow ones).

    Fast path: ``kernels/numba_conv.py::conv2d_forward``/``conv2d_backward``
    (which hand large 3x3 stride-1 layers' forward to ``kernels/numba_winograd.py``
    and small padded maps to ``kernels/tapwise_conv.py``).
    """

    def __init__(self, geom: WindowGeometry, relu: bool = False, max_value=None):
        self.geom, self.relu, self.max_value = geom, relu, max_value

    def forward(self, x, w, b=None):
        return self._convolve(x, w, b, None)

    def _convolve(self, x, w, b, residual):
        """y, keeping what backward reads: x, w, the im2col matrix if one was kept, y under a ReLU."""
        run = fast_kernel("conv2d_forward", x) or conv2d_reference_forward
        y, self.cols = run(x, w, b, self.geom, self.relu, weight_grad_needed(self), self.max_value, residual)
        self.x, self.w = x, w
        self.y = y if self.relu else None
        return y

    def backward(self, g):
        run = fast_kernel("conv2d_backward", g) or conv2d_reference_backward
        grads = run(g, self.x, self.w, self.y, self.cols, self.geom, self.relu, wanted_gradients(self),
                    self.max_value)
        return grads[:len(self.needs_input_grad)]


class Conv2DAddFunction(Conv2DFunction):
    """y = [relu](conv(x, w) (+ b) + r): a convolution and the Add that ends a
    residual block (ResNet, MobileNetV2, Xception), r being the block's other
    branch. Inputs: x, w, r[, b].

    The sum is taken in the pass that adds the bias, so the Add costs one more
    read of r instead of a pass of its own (``models/fusion.py`` finds it).
    Backward: with g' = g · ReLU's slope (g itself without ReLU), the
    convolution's gradients are those of a plain convolution given g', and
    dL/dr = g'.
    """

    def forward(self, x, w, r, b=None):
        return self._convolve(x, w, b, r)

    def backward(self, g):
        if self.relu:
            g = g * relu_slope(self.y, self.max_value)
        needs = wanted_gradients(self, 4)
        run = fast_kernel("conv2d_backward", g) or conv2d_reference_backward
        gx, gw, gb = run(g, self.x, self.w, None, self.cols, self.geom, False, (needs[0], needs[1], needs[3]))
        return (gx, gw, g if needs[2] else None, gb)[:len(self.needs_input_grad)]


def weight_grad_needed(fn) -> bool:
    """Whether backward will be asked for the gradient of input 1, the kernel
    (which needs the im2col matrix). Not in inference, nor for a frozen layer;
    True when forward runs outside ``Function.__call__``, where nobody has said."""
    return fn.needs_input_grad is None or fn.needs_input_grad[1]


def wanted_gradients(fn, inputs: int = 3) -> tuple[bool, ...]:
    """Which gradients are wanted from a Function with inputs x, w[, b]
    (``inputs`` counts them with the bias): the bias' is not wanted without
    one. The Function hands back one gradient per input."""
    return tuple(fn.needs_input_grad) + (False,) * (inputs - len(fn.needs_input_grad))


def conv2d(x, w, b=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1), layer="conv2d",
           relu=False, max_value=None, pads=None, residual=None):
    """Convolve NHWC ``x`` with HWIO ``w`` (and add ``b``, then ``residual``;
    with ``relu=True`` also apply ReLU, capped at ``max_value``), differentiably.
    ``pads`` ((top, bottom), (left, right)) adds explicit zero padding to a
    'valid' window (a ZeroPadding2D folded into the conv)."""
    geom = WindowGeometry.make(x.shape[1], x.shape[2], w.shape[:2], strides, padding,
                               dilation_rate, layer=layer, pads=pads)
    if residual is None:
        fn = Conv2DFunction(geom, relu, max_value)
        return fn(x, w) if b is None else fn(x, w, b)
    out_shape = (x.shape[0], geom.out_h, geom.out_w, w.shape[-1])
    if tuple(residual.shape) != out_shape:
        raise ValueError(f"{layer}: the residual added to its output has shape {tuple(residual.shape)}, "
                         f"the output has {out_shape}")
    fn = Conv2DAddFunction(geom, relu, max_value)
    return fn(x, w, residual) if b is None else fn(x, w, residual, b)
