"""Kernel slots: one name per heavy primitive, several implementations each.

The layers never call an implementation directly; they ask ``kernel(slot, xp)``.

============  ==================================================================
implementation  when it is used
============  ==================================================================
``numba``     compiled CPU kernels (``numba_cpu.py``; Conv2D in cache-sized
              chunks: ``numba_conv.py``), the batch split across the cores
              (``threads.py``); the CPU default
``numpy``     the readable reference (``reference.py``); works on any ``xp``;
              ``MINICNN_KERNELS=numpy`` selects it on the CPU
``cupy``      GPU kernels, chosen automatically for CuPy arrays
============  ==================================================================

A slot an implementation does not fill falls back to the reference, so each
faster path can be added one kernel at a time and tested against the reference.
Numba is the CPU default because it measured faster end to end (4.0x training,
5.6x inference on the seed CNN; ``python -m benchmarks``) and the equality tests
in ``tests/test_kernels_numba.py`` and ``tests/test_kernels_conv.py`` hold for
every slot it fills.
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

SLOTS = (
    "im2col", "col2im", "conv2d_forward", "conv2d_backward",
    "conv2d_relu_maxpool_forward", "conv2d_relu_maxpool_backward",
    "maxpool_forward", "maxpool_backward",
    "avgpool_forward", "avgpool_backward",
    "relu_forward", "relu_backward",
    "adam_update",
)
IMPLEMENTATIONS = ("numpy", "numba", "cupy")
_registry: dict[str, dict[str, object]] = {name: {} for name in IMPLEMENTATIONS}
_loaded: set[str] = set()


def register(implementation: str, slot: str):
    """Decorator: make ``fn`` the ``implementation`` of kernel ``slot``."""
    if implementation not in IMPLEMENTATIONS or slot not in SLOTS:
        raise ValueError(f"unknown kernel {implementation}/{slot}")

    def decorate(fn):
        _registry[implementation][slot] = fn
        return fn

    return decorate


def cpu_implementation() -> str:
    """The CPU implementation chosen by ``MINICNN_KERNELS`` (default ``numba``)."""
    choice = os.environ.get("MINICNN_KERNELS", "numba").lower()
    if choice not in ("numpy", "numba"):
        raise ValueError(f"MINICNN_KERNELS must be 'numpy' or 'numba', got {choice!r}")
    return choice


@contextlib.contextmanager
def use(implementation: str):
    """Run a block with ``MINICNN_KERNELS=implementation`` ('numpy' or 'numba'),
    restoring the previous setting after; the slots read it at every call."""
    old = os.environ.get("MINICNN_KERNELS")
    os.environ["MINICNN_KERNELS"] = implementation
    try:
        yield
    finally:
        if old is None:
            del os.environ["MINICNN_KERNELS"]
        else:
            os.environ["MINICNN_KERNELS"] = old


def _load(implementation: str) -> None:
    if implementation in _loaded:
        return
    _loaded.add(implementation)
    if implementation == "numpy":
        from . import reference  # noqa: F401,PLC0415 - registers itself
        from .allocator import keep_freed_memory  # noqa: PLC0415

        keep_freed_memory()
    elif implementation == "numba":
        from . import numba_conv, numba_cpu  # noqa: F401,PLC0415
    elif implementation == "cupy":
        from . import cupy_gpu  # noqa: F401,PLC0415


def kernel(slot: str, xp=np, implementation: str | None = None):
    """The function filling ``slot`` for arrays of module ``xp``."""
    if implementation is None:
        implementation = cpu_implementation() if xp is np else "cupy"
    _load("numpy")
    try:
        _load(implementation)
    except ImportError:
        implementation = "numpy"
    return _registry[implementation].get(slot) or _registry["numpy"][slot]
