"""The GPU overrides (``kernels/__init__.py``): ``cuda_kernels.py`` launched on CuPy arrays.

CuPy owns the GPU side of minicnn: the arrays and their memory pool, cuBLAS
for the GEMMs (``cols @ w`` on CuPy arrays *is* a cuBLAS call), elementwise
math, streams and CUDA graphs. The kernels themselves are written in Python
with ``numba.cuda`` (``cuda_kernels.py``); this module is the glue:

1. allocate the outputs with CuPy (from its memory pool: after the first few
   steps a training step reuses freed blocks instead of calling cudaMalloc);
2. hand the arrays to Numba through the CUDA array interface, *without*
   Numba's default synchronisation on the producer's stream (``sync=False``:
   a host wait per kernel would stall every step, and is illegal while a
   CUDA graph is being captured);
3. launch on CuPy's current stream, so the kernels are ordered with CuPy's
   own work and land in a graph when that stream is capturing.

This module is imported only when a CuPy array asks for a kernel
(``kernels.load``), so CuPy is never imported on a CPU-only run. If Numba's
CUDA target is missing, that import fails, ``kernels.unavailable()`` says why,
and the GPU runs the reference code of each Function on CuPy arrays.
"""
from __future__ import annotations

import cupy
from numba import cuda

from ..shapes import WindowGeometry
from . import cuda_kernels

_streams: dict[int, object] = {}


def stream():
    """Numba's handle on CuPy's current stream (the legacy default stream is 0)."""
    ptr = cupy.cuda.get_current_stream().ptr
    if ptr == 0:
        return 0
    if ptr not in _streams:
        _streams[ptr] = cuda.external_stream(ptr)
    return _streams[ptr]


def device(array):
    """A Numba view of a CuPy array: no copy, and no wait on its stream."""
    return cuda.as_cuda_array(array, sync=False)


def im2col(x, geom: WindowGeometry):
    kh, kw = geom.kernel
    cols = cupy.empty((x.shape[0] * geom.out_h * geom.out_w, kh * kw * x.shape[3]), dtype=x.dtype)
    cuda_kernels.im2col(device(x), device(cols), geom, stream())
    return cols


def col2im(cols, x_shape, geom: WindowGeometry):
    out = cupy.empty(x_shape, dtype=cols.dtype)
    cuda_kernels.col2im(device(cols), device(out), geom, stream())
    return out


def maxpool_forward(x, geom: WindowGeometry):
    shape = (x.shape[0], geom.out_h, geom.out_w, x.shape[3])
    out, argmax = cupy.empty(shape, dtype=x.dtype), cupy.empty(shape, dtype=cupy.int32)
    cuda_kernels.maxpool_forward(device(x), device(out), device(argmax), geom, stream())
    return out, argmax


def maxpool_backward(grad, argmax, x_shape, geom: WindowGeometry):
    out = cupy.empty(x_shape, dtype=grad.dtype)
    cuda_kernels.maxpool_backward(device(grad), device(argmax), device(out), geom, stream())
    return out


def avgpool_forward(x, geom: WindowGeometry):
    out = cupy.empty((x.shape[0], geom.out_h, geom.out_w, x.shape[3]), dtype=x.dtype)
    cuda_kernels.avgpool_forward(device(x), device(out), geom, stream())
    return out


def avgpool_backward(grad, x_shape, geom: WindowGeometry):
    out = cupy.empty(x_shape, dtype=grad.dtype)
    cuda_kernels.avgpool_backward(device(grad), device(out), geom, stream())
    return out


def relu_forward(x, max_value=None, keep_mask=True):
    """Plain ReLU: one CUDA kernel writing y and the mask. ReLU6: CuPy's clip
    (and the mask, if backward will want it)."""
    x = cupy.ascontiguousarray(x)
    if max_value is not None:
        cap = x.dtype.type(max_value)
        return cupy.clip(x, 0, cap), ((x > 0) & (x < cap) if keep_mask else None)
    y, mask = cupy.empty_like(x), cupy.empty(x.shape, dtype=cupy.bool_)
    cuda_kernels.relu_forward(device(x.reshape(-1)), device(y.reshape(-1)), device(mask.reshape(-1)), stream())
    return y, mask


def relu_backward(grad, mask):
    grad, mask = cupy.ascontiguousarray(grad), cupy.ascontiguousarray(mask)
    out = cupy.empty_like(grad)
    cuda_kernels.relu_backward(device(grad.reshape(-1)), device(mask.reshape(-1)), device(out.reshape(-1)), stream())
    return out


def adam_update(w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon):
    """One fused pass instead of CuPy's chain of elementwise kernels (the
    reference: ``Adam.update`` in ``optimizers.py``). ``alpha`` may be a
    one-element device array (``Adam.device_step_size``, for CUDA graphs).
    Strided arrays are updated through contiguous copies."""
    arrays = [w, g, m, v] + ([] if v_hat is None else [v_hat])
    flat = [cupy.ascontiguousarray(a).reshape(-1) for a in arrays]
    if getattr(alpha, "ndim", 0):
        alpha = device(alpha)
    hat = None if v_hat is None else device(flat[4])
    cuda_kernels.adam_update(*(device(a) for a in flat[:4]), hat, alpha, beta_1, beta_2, epsilon, stream())
    for original, updated in zip((w, None, m, v, v_hat), flat):
        if original is not None and not original.flags.c_contiguous:  # a copy: write it back
            original[...] = updated.reshape(original.shape)
