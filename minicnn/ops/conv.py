"""2-D convolution as im2col + one matrix multiply, forward and backward.

Forward, for x (N, H, W, C_in) and kernel w (kh, kw, C_in, C_out)::

    cols = im2col(x)                         (N·oh·ow, kh·kw·C_in)
    y    = cols @ w.reshape(-1, C_out) + b   (N·oh·ow, C_out) -> (N, oh, ow, C_out)

Backward, given g = dL/dy reshaped to (N·oh·ow, C_out)::

    dL/dw    = cols.T @ g                    (the same GEMM, transposed)
    dL/db    = g summed over all pixels
    dL/dcols = g @ w_matrix.T  ->  dL/dx = col2im(dL/dcols)

All heavy lifting is two GEMMs (BLAS / cuBLAS) plus im2col/col2im. The whole
forward and backward pass are kernel slots (``conv2d_forward``/``_backward``):
``kernels/reference.py`` spells out the formulas above, ``kernels/numba_conv.py``
computes the same in cache-sized pieces on every core.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from .kernels import kernel
from .shapes import WindowGeometry


class Conv2DFunction(Function):
    """y = conv(x, w) (+ b), optionally followed by ReLU. Inputs: x, w[, b].

    ReLU is fused in when the layer asks for it (``Conv2D(activation='relu')``):
    adding the bias and cutting negatives then happen in one pass over y, and
    backward reads the slope off y instead of keeping a mask. ``cols`` is the
    im2col matrix if the kernel keeps one for backward (the reference does; the
    Numba kernels recompute it piece by piece and keep None).
    """

    def __init__(self, geom: WindowGeometry, relu: bool = False):
        self.geom, self.relu = geom, relu

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        y, self.cols = kernel("conv2d_forward", xp)(x, w, b, self.geom, self.relu, weight_grad_needed(self))
        self.x, self.w = x, w
        self.y = y if self.relu else None
        return y

    def backward(self, g):
        return slot_gradients(self, "conv2d_backward", g, self.x, self.w, self.y, self.cols, self.geom, self.relu)


def weight_grad_needed(fn) -> bool:
    """Whether backward will be asked for the gradient of input 1, the kernel
    (which needs the im2col matrix). Not in inference, nor for a frozen layer;
    True when forward runs outside ``Function.__call__``, where nobody has said."""
    return fn.needs_input_grad is None or fn.needs_input_grad[1]


def slot_gradients(fn, slot, g, *saved):
    """Run backward kernel ``slot`` for a Function ``fn`` with inputs x, w[, b].

    The slot always answers (dx, dw, db) and is told which of the three are
    wanted (``needs``, last argument; db is not wanted without a bias); ``fn``
    gets one gradient per input back.
    """
    count = len(fn.needs_input_grad)
    needs = tuple(fn.needs_input_grad) + (False,) * (3 - count)
    return kernel(slot, get_array_module(g))(g, *saved, needs)[:count]


def conv2d(x, w, b=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1), layer="conv2d",
           relu=False):
    """Convolve NHWC ``x`` with HWIO ``w`` (and add ``b``; with ``relu=True`` also
    apply ReLU), differentiably."""
    geom = WindowGeometry.make(x.shape[1], x.shape[2], w.shape[:2], strides, padding,
                               dilation_rate, layer=layer)
    fn = Conv2DFunction(geom, relu)
    return fn(x, w) if b is None else fn(x, w, b)
