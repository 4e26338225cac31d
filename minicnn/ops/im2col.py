"""im2col and col2im: turning a convolution into one matrix multiply.

Data is NHWC (batch, height, width, channels) and kernels are HWIO (height,
width, in-channels, out-channels), as in Keras, so weights move between the two
libraries unchanged.

im2col copies every window the kernel visits into one row of a matrix::

    x: (N, H, W, C)  ->  cols: (N · out_h · out_w,  kh · kw · C)

Row r holds the window of output pixel r, flattened in (kh, kw, C) order, which
is the order of the kernel reshaped to (kh · kw · C, out_channels). A convolution
is then ``cols @ kernel_matrix``. The copy is made with one strided slice per
kernel offset (i, j): for a 3x3 kernel, nine array copies, no per-pixel loop.

col2im is the adjoint (transpose) of im2col: it sends each row of a column
matrix back to the pixels it came from, and where windows overlap the values
add up. That is exactly what the backward pass of a convolution needs, and it
satisfies <im2col(x), y> = <x, col2im(y)> for all x and y.

These functions use only slicing, so they work unchanged on NumPy and CuPy
arrays; they are the reference that the compiled kernels (``kernels/``) are
tested against, and what runs with ``MINICNN_KERNELS=numpy``.
"""
from __future__ import annotations

from ..backend import get_array_module
from .kernels import fast_kernel
from .shapes import WindowGeometry


def pad_input(x, geom: WindowGeometry, value=0.0):
    """Pad the two spatial axes of an NHWC array as the geometry says."""
    (top, bottom), (left, right) = geom.pads
    if top == bottom == left == right == 0:
        return x
    xp = get_array_module(x)
    return xp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def _window_slice(geom: WindowGeometry, i: int, j: int):
    """The strided slice of the padded input that kernel offset (i, j) reads."""
    (sh, sw), (dh, dw) = geom.strides, geom.dilation
    r0, c0 = i * dh, j * dw
    return (slice(None),
            slice(r0, r0 + sh * (geom.out_h - 1) + 1, sh),
            slice(c0, c0 + sw * (geom.out_w - 1) + 1, sw),
            slice(None))


def im2col_windows(x, geom: WindowGeometry, pad_value=0.0):
    """All windows as a (N, out_h, out_w, kh, kw, C) array."""
    xp = get_array_module(x)
    xpad = pad_input(x, geom, pad_value)
    n, c = x.shape[0], x.shape[3]
    kh, kw = geom.kernel
    windows = xp.empty((n, geom.out_h, geom.out_w, kh, kw, c), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            windows[:, :, :, i, j, :] = xpad[_window_slice(geom, i, j)]
    return windows


def im2col(x, geom: WindowGeometry):
    """(N, H, W, C) -> (N·out_h·out_w, kh·kw·C): one row per output pixel.

    Fast paths (``kernels.fast_kernel``): ``kernels/numba_cpu.py::im2col``,
    ``kernels/cupy_gpu.py::im2col``."""
    fast = fast_kernel("im2col", x)
    if fast is not None:
        return fast(x, geom)
    windows = im2col_windows(x, geom)
    return windows.reshape(-1, geom.kernel[0] * geom.kernel[1] * x.shape[3])


def col2im_windows(windows, x_shape, geom: WindowGeometry):
    """Adjoint of ``im2col_windows``: add every window back onto the image."""
    xp = get_array_module(windows)
    n, h, w, c = x_shape
    (top, bottom), (left, right) = geom.pads
    out = xp.zeros((n, h + top + bottom, w + left + right, c), dtype=windows.dtype)
    kh, kw = geom.kernel
    for i in range(kh):
        for j in range(kw):
            out[_window_slice(geom, i, j)] += windows[:, :, :, i, j, :]
    return out[:, top:top + h, left:left + w, :]


def col2im(cols, x_shape, geom: WindowGeometry):
    """(N·out_h·out_w, kh·kw·C) -> (N, H, W, C), summing overlapping windows.

    Fast paths: ``kernels/numba_cpu.py::col2im``, ``kernels/cupy_gpu.py::col2im``."""
    fast = fast_kernel("col2im", cols)
    if fast is not None:
        return fast(cols, x_shape, geom)
    n, c = x_shape[0], x_shape[3]
    kh, kw = geom.kernel
    windows = cols.reshape(n, geom.out_h, geom.out_w, kh, kw, c)
    return col2im_windows(windows, x_shape, geom)
