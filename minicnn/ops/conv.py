"""2-D convolution as im2col + one matrix multiply, forward and backward.

Forward, for x (N, H, W, C_in) and kernel w (kh, kw, C_in, C_out)::

    cols = im2col(x)                         (N·oh·ow, kh·kw·C_in)
    y    = cols @ w.reshape(-1, C_out) + b   (N·oh·ow, C_out) -> (N, oh, ow, C_out)

Backward, given g = dL/dy reshaped to (N·oh·ow, C_out)::

    dL/dw    = cols.T @ g                    (the same GEMM, transposed)
    dL/db    = g summed over all pixels
    dL/dcols = g @ w_matrix.T  ->  dL/dx = col2im(dL/dcols)

All heavy lifting is two GEMMs (BLAS / cuBLAS) plus im2col/col2im, which come
from the kernel slots so that Numba or CuPy versions can take over.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from .kernels import kernel
from .shapes import WindowGeometry


class Conv2DFunction(Function):
    """y = conv(x, w) (+ b). Inputs: x, w[, b]."""

    def __init__(self, geom: WindowGeometry):
        self.geom = geom

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        self.x_shape = x.shape
        self.w = w
        cols = kernel("im2col", xp)(x, self.geom)
        y = cols @ w.reshape(-1, w.shape[-1])
        if b is not None:
            y += b
        self.cols = cols
        return y.reshape(x.shape[0], self.geom.out_h, self.geom.out_w, w.shape[-1])

    def backward(self, g):
        xp = get_array_module(g)
        w = self.w
        g2 = g.reshape(-1, w.shape[-1])
        needs = self.needs_input_grad
        gx = gw = gb = None
        if needs[0]:
            dcols = g2 @ w.reshape(-1, w.shape[-1]).T
            gx = kernel("col2im", xp)(dcols, self.x_shape, self.geom)
        if needs[1]:
            gw = (self.cols.T @ g2).reshape(w.shape)
        if len(needs) > 2 and needs[2]:
            gb = g2.sum(axis=0)
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)


def conv2d(x, w, b=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1), layer="conv2d"):
    """Convolve NHWC ``x`` with HWIO ``w`` (and add ``b``), differentiably."""
    geom = WindowGeometry.make(x.shape[1], x.shape[2], w.shape[:2], strides, padding,
                               dilation_rate, layer=layer)
    fn = Conv2DFunction(geom)
    return fn(x, w) if b is None else fn(x, w, b)
