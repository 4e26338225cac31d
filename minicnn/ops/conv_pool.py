"""Conv2D + ReLU + MaxPooling2D as one Function: the conv output stays in cache.

In the classic block conv -> ReLU -> max-pool, the full-size conv output
(16 MB for the seed CNN's first layer at batch 128) is written to memory, read
back by the pooling, and kept for backward, where a full-size gradient, three
quarters zeros, is written and read again. Run as one Function, each chunk of
images is convolved, activated and pooled while it is still in the core's
cache (``kernels/numba_conv.py``); only the pooled output, a quarter of the
size, and the winning cell of each window leave it.

Two facts keep the result exactly that of the three layers:

* ReLU is monotone, so it commutes with max: pool(relu(y)) = relu(pool(y)),
  and a window's winner is the same cell either way (up to ties at 0, where
  ReLU's slope is 0 and no gradient flows anyway).
* Backward sends the gradient only to each window's winner, whose value is
  the pooled value; ReLU's slope there is ``pooled > 0``. So backward needs
  the pooled output and the winners, never the full-size conv output.

``Sequential`` uses it for a Conv2D(activation='relu') directly followed by a
MaxPooling2D (``Layer.fuses_with``, ``models/sequential.py``); the layers and
their weights stay as they are, only the computation is shared, and
``summary()`` says which pairs run this way.
"""
from __future__ import annotations

from ..autograd import Function
from .conv import conv2d_reference_backward, conv2d_reference_forward, wanted_gradients, weight_grad_needed
from .kernels import fast_kernel
from .pool import maxpool_backward, maxpool_forward
from .shapes import WindowGeometry


class Conv2DReLUMaxPoolFunction(Function):
    """max_pool(relu(conv(x, w) + b)). Inputs: x, w[, b].

    Reference: the conv (``conv.py``) and the max pool (``pool.py``) one after
    the other, and backward through the pool's winners and the conv. Fast path
    for 2x2 pools: ``kernels/numba_conv.py::conv2d_relu_maxpool_forward``/``_backward``.
    """

    def __init__(self, geom: WindowGeometry, pool_geom: WindowGeometry):
        self.geom, self.pool_geom = geom, pool_geom

    def forward(self, x, w, b=None):
        fast = fast_kernel("conv2d_relu_maxpool_forward", x) if self.pool_geom.is_2x2_tiling else None
        if fast is not None:
            pooled, self.cells, self.cols = fast(x, w, b, self.geom, self.pool_geom, weight_grad_needed(self))
        else:
            y, self.cols = conv2d_reference_forward(x, w, b, self.geom, True, weight_grad_needed(self))
            pooled, self.cells = maxpool_forward(y, self.pool_geom)
        self.x, self.w, self.pooled = x, w, pooled
        return pooled

    def backward(self, g):
        needs = wanted_gradients(self)
        fast = fast_kernel("conv2d_relu_maxpool_backward", g) if self.pool_geom.is_2x2_tiling else None
        if fast is not None:
            grads = fast(g, self.cells, self.pooled, self.x, self.w, self.cols, self.geom, self.pool_geom, needs)
        else:
            # Only each window's winner gets a gradient, and its value is the
            # pooled value: ReLU's slope there is ``pooled > 0``.
            conv_shape = (self.x.shape[0], self.geom.out_h, self.geom.out_w, self.w.shape[-1])
            g_conv = maxpool_backward(g * (self.pooled > 0), self.cells, conv_shape, self.pool_geom)
            grads = conv2d_reference_backward(g_conv, self.x, self.w, None, self.cols, self.geom, False, needs)
        return grads[:len(self.needs_input_grad)]


def conv2d_relu_max_pool2d(x, w, b, strides, padding, dilation_rate, pool_size, pool_strides, pool_padding,
                           layer="conv2d", pool_layer="max_pooling2d"):
    """max_pool(relu(conv2d(x, w) + b)) in one Function, differentiably."""
    geom = WindowGeometry.make(x.shape[1], x.shape[2], w.shape[:2], strides, padding, dilation_rate, layer=layer)
    pool_geom = WindowGeometry.make(geom.out_h, geom.out_w, pool_size, pool_strides, pool_padding, layer=pool_layer)
    fn = Conv2DReLUMaxPoolFunction(geom, pool_geom)
    return fn(x, w) if b is None else fn(x, w, b)
