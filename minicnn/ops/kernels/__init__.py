"""Compiled kernels: faster, named overrides of the reference maths in ``ops``.

Every Function in ``minicnn/ops`` computes its forward and backward pass in
plain array code over ``xp`` (NumPy or CuPy) that a learner can read next to
its formulas. That code is the reference. A compiled kernel computes the same
thing faster; it lives here, and this module is the one place that decides
which one runs:

==========================  ===============================  =======================
override name               CPU (``MINICNN_KERNELS=numba``,   GPU (CuPy arrays)
                            the default)
==========================  ===============================  =======================
im2col, col2im              numba_conv.py                     cupy_gpu.py
maxpool_*, avgpool_*        numba_cpu.py                      cupy_gpu.py
relu_forward/_backward      numba_cpu.py                      cupy_gpu.py
adam_update                 numba_cpu.py                      cupy_gpu.py
conv2d_forward/_backward    numba_conv.py (forward of large   (reference: cuBLAS GEMMs)
                            3x3 stride-1 layers: Winograd,
                            numba_winograd.py; small
                            padded maps: tapwise_conv.py)
dense_forward/_backward     numba_dense.py                    (reference: cuBLAS GEMMs)
depthwise_forward/_backward numba_depthwise.py                (reference)
batchnorm_forward/_backward numba_batchnorm.py                (reference)
conv2d_relu_maxpool_*       numba_conv.py (2x2 pools)         (reference)
==========================  ===============================  =======================

A Function asks ``fast_kernel(name, x)``; it gets the compiled function, or
None, and then runs its reference code. ``MINICNN_KERNELS=numpy`` answers None
for every name, on the CPU and on the GPU, so the whole forward and backward
pass is the reference code.
Each override is tested equal to its reference (``tests/test_kernels_numba.py``,
``tests/test_kernels_conv.py``, ``tests/test_gpu_kernels_sim.py``); the speed
each one buys is measured by ``python -m benchmarks``.

``threads.py`` splits a batch across the CPU cores for the Numba kernels (its
threads hand work over through ``spin_wait.py``), and ``numba_gemm.py`` the GEMMs of Conv2D and Dense (over images, or over weights);
``allocator.py`` keeps the memory a step frees for the next one.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import warnings

import numpy as np

from ...backend import get_device
from . import allocator, threads

# override name -> (CPU module, GPU module); None: that side runs the reference
FAST_PATHS = {
    "im2col": ("numba_conv", "cupy_gpu"),
    "col2im": ("numba_conv", "cupy_gpu"),
    "maxpool_forward": ("numba_cpu", "cupy_gpu"),
    "maxpool_backward": ("numba_cpu", "cupy_gpu"),
    "avgpool_forward": ("numba_cpu", "cupy_gpu"),
    "avgpool_backward": ("numba_cpu", "cupy_gpu"),
    "relu_forward": ("numba_cpu", "cupy_gpu"),
    "relu_backward": ("numba_cpu", "cupy_gpu"),
    "adam_update": ("numba_cpu", "cupy_gpu"),
    "conv2d_forward": ("numba_conv", None),
    "conv2d_backward": ("numba_conv", None),
    "depthwise_forward": ("numba_depthwise", None),
    "depthwise_backward": ("numba_depthwise", None),
    "batchnorm_forward": ("numba_batchnorm", None),
    "batchnorm_backward": ("numba_batchnorm", None),
    "dense_forward": ("numba_dense", None),
    "dense_backward": ("numba_dense", None),
    "conv2d_relu_maxpool_forward": ("numba_conv", None),
    "conv2d_relu_maxpool_backward": ("numba_conv", None),
}
_modules: dict[str, object] = {}
_unavailable: dict[str, str] = {}


def cpu_implementation() -> str:
    """The kernels chosen by ``MINICNN_KERNELS``: 'numba' (default: the compiled
    overrides, Numba on the CPU and numba.cuda on the GPU) or 'numpy' (the reference code)."""
    choice = os.environ.get("MINICNN_KERNELS", "numba").lower()
    if choice not in ("numpy", "numba"):
        raise ValueError(f"MINICNN_KERNELS must be 'numpy' or 'numba', got {choice!r}")
    return choice


@contextlib.contextmanager
def use(implementation: str):
    """Run a block with ``MINICNN_KERNELS=implementation`` ('numpy' or 'numba'),
    restoring the previous setting after; ``fast_kernel`` reads it at every call."""
    old = os.environ.get("MINICNN_KERNELS")
    os.environ["MINICNN_KERNELS"] = implementation
    try:
        yield
    finally:
        if old is None:
            del os.environ["MINICNN_KERNELS"]
        else:
            os.environ["MINICNN_KERNELS"] = old


def fast_kernel(name: str, x):
    """The compiled override ``name`` for arrays like ``x``, or None: run the reference."""
    cpu_module, gpu_module = FAST_PATHS[name]
    module = cpu_module if isinstance(x, np.ndarray) else gpu_module
    if module is None or cpu_implementation() == "numpy":
        return None
    loaded = load(module)
    return None if loaded is None else getattr(loaded, name)


def load(module: str):
    """Import one kernel module on first use (CuPy and Numba's CUDA target only
    when a GPU array arrives). Numba is a dependency, so a failing CPU module is
    an error; a GPU module that cannot load (no numba-cuda) leaves the GPU on
    the reference code, with one warning that says why (``unavailable()``)."""
    if module not in _modules and module not in _unavailable:
        try:
            _modules[module] = importlib.import_module(f"{__name__}.{module}")
        except ImportError as error:
            if not module.startswith("cupy"):
                raise
            _unavailable[module] = f"{type(error).__name__}: {error}"
            warnings.warn(f"GPU kernels unavailable, running the reference code on CuPy: {error}",
                          RuntimeWarning, stacklevel=3)
    return _modules.get(module)


def unavailable() -> dict[str, str]:
    """Kernel modules that failed to load, and why (empty when all that were asked for loaded)."""
    return dict(_unavailable)


def blas_on_one_thread():
    """The context a training or inference step runs in on the CPU: BLAS on one
    thread, because the Numba kernels split the batch across the cores
    themselves (``threads.py`` says why two thread teams lose). Nothing to do
    with ``MINICNN_THREADS=1``, with ``MINICNN_KERNELS=numpy`` (whose kernels
    do not split the batch) or on the GPU. On the CPU the first step also keeps
    freed memory in the heap for the steps after it (``allocator.py``)."""
    if get_device() == "gpu":
        return contextlib.nullcontext()
    allocator.keep_freed_memory()
    if threads.threads() == 1 or cpu_implementation() != "numba":
        return contextlib.nullcontext()
    return threads.blas_limited_to_one_thread()
