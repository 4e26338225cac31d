"""The 'cupy' kernel slots: ``cuda_kernels.py`` launched on CuPy arrays.

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

This module is imported only when a slot is asked for with ``xp = cupy``
(``kernels._load``), so CuPy is never imported on a CPU-only run. If Numba's
CUDA target is missing, that import fails and every slot falls back to the
reference implementation, which runs on CuPy arrays as they are.
"""
from __future__ import annotations

import cupy
from numba import cuda

from ..shapes import WindowGeometry
from . import cuda_kernels as ck
from . import reference, register

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


def _contiguous(*arrays) -> bool:
    return all(a is None or a.flags.c_contiguous for a in arrays)


@register("cupy", "im2col")
def im2col(x, geom: WindowGeometry):
    kh, kw = geom.kernel
    cols = cupy.empty((x.shape[0] * geom.out_h * geom.out_w, kh * kw * x.shape[3]), dtype=x.dtype)
    ck.im2col(device(x), device(cols), geom, stream())
    return cols


@register("cupy", "col2im")
def col2im(cols, x_shape, geom: WindowGeometry):
    out = cupy.empty(x_shape, dtype=cols.dtype)
    ck.col2im(device(cols), device(out), geom, stream())
    return out


@register("cupy", "maxpool_forward")
def maxpool_forward(x, geom: WindowGeometry):
    shape = (x.shape[0], geom.out_h, geom.out_w, x.shape[3])
    out, argmax = cupy.empty(shape, dtype=x.dtype), cupy.empty(shape, dtype=cupy.int32)
    ck.maxpool_forward(device(x), device(out), device(argmax), geom, stream())
    return out, argmax


@register("cupy", "maxpool_backward")
def maxpool_backward(grad, argmax, x_shape, geom: WindowGeometry):
    out = cupy.empty(x_shape, dtype=grad.dtype)
    ck.maxpool_backward(device(grad), device(argmax), device(out), geom, stream())
    return out


@register("cupy", "avgpool_forward")
def avgpool_forward(x, geom: WindowGeometry):
    out = cupy.empty((x.shape[0], geom.out_h, geom.out_w, x.shape[3]), dtype=x.dtype)
    ck.avgpool_forward(device(x), device(out), geom, stream())
    return out


@register("cupy", "avgpool_backward")
def avgpool_backward(grad, x_shape, geom: WindowGeometry):
    out = cupy.empty(x_shape, dtype=grad.dtype)
    ck.avgpool_backward(device(grad), device(out), geom, stream())
    return out


@register("cupy", "relu_forward")
def relu_forward(x):
    x = cupy.ascontiguousarray(x)
    y, mask = cupy.empty_like(x), cupy.empty(x.shape, dtype=cupy.bool_)
    ck.relu_forward(device(x.reshape(-1)), device(y.reshape(-1)), device(mask.reshape(-1)), stream())
    return y, mask


@register("cupy", "relu_backward")
def relu_backward(grad, mask):
    grad, mask = cupy.ascontiguousarray(grad), cupy.ascontiguousarray(mask)
    out = cupy.empty_like(grad)
    ck.relu_backward(device(grad.reshape(-1)), device(mask.reshape(-1)), device(out.reshape(-1)), stream())
    return out


@register("cupy", "adam_update")
def adam_update(w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon):
    """One fused pass instead of CuPy's chain of elementwise kernels. ``alpha``
    may be a one-element device array (CUDA-graph replay, ``models/cuda_graph.py``)."""
    if not _contiguous(w, g, m, v, v_hat):  # rare: strided weights update in place via the reference
        return reference.adam_update(w, g, m, v, v_hat, alpha, beta_1, beta_2, epsilon)
    flat = [device(a.reshape(-1)) for a in (w, g, m, v)]
    hat = None if v_hat is None else device(v_hat.reshape(-1))
    if getattr(alpha, "ndim", 0):
        alpha = device(alpha)
    ck.adam_update(*flat, hat, alpha, beta_1, beta_2, epsilon, stream())
    return None
