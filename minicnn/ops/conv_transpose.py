"""2-D transposed convolution ("deconvolution"): a convolution run backwards.

A strided convolution maps a large image to a small one: each output pixel
reads one k x k window of the input. Its transpose maps small to large: each
*input* pixel writes (scatters) a k x k patch, scaled by the kernel, into the
output, the patches ``s`` pixels apart, and where patches overlap they add up.
With stride 2 every input pixel lands two output pixels from its neighbour, so
the image doubles in size: that is why decoders and U-Nets use it to upsample
with learned weights.

Exactly, Conv2DTranspose(x, W) is the gradient of a convolution with respect to
*its* input. Take the convolution ``conv`` that would map an image of the
output's size (N, H_out, W_out, F) back to x's size (N, H, W, C) with the
same kernel W (kh, kw, F, C) — Keras' kernel layout for this layer, which is an
ordinary HWIO kernel for ``conv``. Then, with the window geometry of ``conv``
(``WindowGeometry`` in ``shapes.py``) and the im2col/col2im pair of
``im2col.py``::

    forward   y  = col2im(x_rows @ W_mat.T)   x_rows (N·H·W, C), W_mat (kh·kw·F, C)
    backward  dx = im2col(g) @ W_mat           a plain convolution of g with W
              dW = (im2col(g).T @ x_rows)      reshaped to (kh, kw, F, C)
              db = g summed over N, H_out, W_out

Forward is ``conv``'s backward pass for dx (``ops/conv.py``) and backward is
``conv``'s forward pass: the two are each other's adjoint.

Output size per axis (Keras' rule, ``keras/src/backend/common/backend_utils.py``),
with k_eff = (k - 1)·d + 1 the dilated kernel and ``output_padding`` op::

    'valid':  (N - 1)·s + k_eff + op          op defaults to max(k_eff, s) - k_eff
    'same':   N·s                              when op is None
              (N - 1)·s + (k_eff mod 2) + op   otherwise

and ``conv`` pads that output size by Keras' 'same' rule (the odd pixel at the
bottom/right), as TensorFlow's ``conv2d_transpose`` does, so weights and results
match Keras one to one. ``output_padding`` only picks among the output sizes
that ``conv`` would shrink to the same N; extra rows it adds at the
bottom/right that no patch reaches are zero (plus the bias).

No compiled kernel of its own: the work is two GEMMs plus im2col/col2im, which
already have Numba and CUDA overrides (``kernels/``).
"""
from __future__ import annotations

from ..autograd import Function
from .conv import wanted_gradients
from .im2col import col2im, im2col
from .shapes import WindowGeometry, effective_kernel


def transposed_output_length(n, k: int, stride: int, padding: str, output_padding=None, dilation: int = 1):
    """Conv2DTranspose's output size along one axis (None stays None), Keras' rule above."""
    if n is None:
        return None
    k_eff = effective_kernel(k, dilation)
    if padding == "valid":
        extra = max(k_eff, stride) - k_eff if output_padding is None else output_padding
        return (n - 1) * stride + k_eff + extra
    if output_padding is None:
        return n * stride
    return (n - 1) * stride + k_eff % 2 + output_padding


def transposed_geometry(in_h, in_w, kernel, strides, padding, output_padding=None, dilation=(1, 1),
                        layer="conv2d_transpose") -> WindowGeometry:
    """The geometry of the convolution whose input-gradient this transposed
    convolution is: it sweeps the (out_h, out_w) output back down to (in_h, in_w).

    Raises a ValueError naming ``layer`` when no such convolution exists (an
    output_padding that gives an output ``conv`` would not shrink back to the
    input's size, e.g. an even kernel with padding='same' and output_padding=0).
    """
    ops = output_padding or (None, None)
    out = [transposed_output_length(n, k, s, padding, op, d)
           for n, k, s, op, d in zip((in_h, in_w), kernel, strides, ops, dilation)]
    geom = None
    if min(out) >= 1:
        geom = WindowGeometry.make(out[0], out[1], kernel, strides, padding, dilation, layer=layer)
    if geom is None or (geom.out_h, geom.out_w) != (in_h, in_w):
        raise ValueError(
            f"{layer}: a {in_h}x{in_w} input with kernel_size {tuple(kernel)}, strides {tuple(strides)}, "
            f"padding='{padding}', output_padding={output_padding} and dilation_rate {tuple(dilation)} gives a "
            f"{out[0]}x{out[1]} output, which a convolution with these settings does not map back to "
            f"{in_h}x{in_w}. Use another output_padding (or None, the default).")
    return geom


class Conv2DTransposeFunction(Function):
    """y = conv_transpose(x, w) (+ b). Inputs: x (N, H, W, C), w (kh, kw, F, C)[, b (F,)].

    ``geom`` is the geometry of the convolution from y's size down to x's size
    (``transposed_geometry``): ``geom.in_h``/``in_w`` are y's spatial size.
    """

    def __init__(self, geom: WindowGeometry):
        self.geom = geom

    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        n, c_in, filters = x.shape[0], x.shape[3], w.shape[2]
        patches = x.reshape(-1, c_in) @ w.reshape(-1, c_in).T  # each input pixel's kh·kw·F patch
        y = col2im(patches, (n, self.geom.in_h, self.geom.in_w, filters), self.geom)  # overlapping patches add
        return y if b is None else y + b

    def backward(self, g):
        needs = wanted_gradients(self)
        c_in = self.x.shape[3]
        cols = im2col(g, self.geom)  # (N·H·W, kh·kw·F): the windows of g each input pixel wrote to
        gx = (cols @ self.w.reshape(-1, c_in)).reshape(self.x.shape) if needs[0] else None
        gw = (cols.T @ self.x.reshape(-1, c_in)).reshape(self.w.shape) if needs[1] else None
        gb = g.sum(axis=(0, 1, 2)) if needs[2] else None
        return (gx, gw, gb)[:len(self.needs_input_grad)]


def conv2d_transpose(x, w, b=None, strides=(1, 1), padding="valid", output_padding=None, dilation_rate=(1, 1),
                     layer="conv2d_transpose"):
    """Transposed-convolve NHWC ``x`` with a (kh, kw, filters, C_in) kernel ``w``
    (Keras' layout) and add ``b``, differentiably."""
    geom = transposed_geometry(x.shape[1], x.shape[2], w.shape[:2], strides, padding, output_padding,
                               dilation_rate, layer=layer)
    fn = Conv2DTransposeFunction(geom)
    return fn(x, w) if b is None else fn(x, w, b)
