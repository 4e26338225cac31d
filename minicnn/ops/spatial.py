"""Moving pixels without arithmetic: zero padding and nearest-neighbour upsampling.

Both are linear maps, so each backward is the adjoint (transpose) map:

* padding puts x inside a larger zero image; its adjoint cuts the gradient's
  border off again (the padded pixels feed no input);
* upsampling by (sh, sw) copies each pixel into an sh x sw block; its adjoint
  adds the gradients of each block back into the one pixel they came from.

(Cropping is plain slicing, whose gradient ``math_ops.getitem`` already has.)
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module


class ZeroPad2D(Function):
    """(N, H, W, C) -> (N, top + H + bottom, left + W + right, C)."""

    def __init__(self, pads):
        (self.top, self.bottom), (self.left, self.right) = pads

    def forward(self, x):
        xp = get_array_module(x)
        self.h, self.w = x.shape[1], x.shape[2]
        return xp.pad(x, ((0, 0), (self.top, self.bottom), (self.left, self.right), (0, 0)))

    def backward(self, g):
        return g[:, self.top:self.top + self.h, self.left:self.left + self.w, :]


class UpSampleNearest2D(Function):
    """Repeat every pixel ``size[0]`` times down and ``size[1]`` times across."""

    def __init__(self, size):
        self.size = size

    def forward(self, x):
        sh, sw = self.size
        return x.repeat(sh, axis=1).repeat(sw, axis=2)

    def backward(self, g):
        n, h, w, c = g.shape
        sh, sw = self.size
        return g.reshape(n, h // sh, sh, w // sw, sw, c).sum(axis=(2, 4))
