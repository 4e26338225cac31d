"""Which array library does the math, and in which precision.

minicnn runs the same code on NumPy (CPU) and CuPy (NVIDIA GPU). Every function
that touches data asks ``get_array_module(array)`` for the module ``xp`` that owns
the array and then calls ``xp.matmul``, ``xp.exp`` ... exactly as it would call
``np.matmul``. CuPy is imported lazily, so a machine without it never notices.

Two settings, both also readable from the environment:

* device: ``MINICNN_DEVICE=cpu|gpu|auto`` (``auto`` picks the GPU only when CuPy
  and a CUDA device work). ``set_device`` changes it at run time.
* float dtype: ``floatx()`` is ``'float32'`` unless ``set_floatx('float64')``
  (gradient checks use float64 so that finite differences are accurate).
"""
from __future__ import annotations

import os

import numpy as np

_VALID_DEVICES = ("cpu", "gpu", "auto")
_VALID_FLOATX = ("float32", "float64")

_state = {"device": None, "floatx": os.environ.get("MINICNN_FLOATX", "float32")}
_cupy = None


class BackendError(RuntimeError):
    """Raised when the requested device cannot be used (e.g. no CuPy / no GPU)."""


def _import_cupy():
    """Import CuPy once and check that a CUDA device really answers."""
    global _cupy
    if _cupy is not None:
        return _cupy
    try:
        import cupy  # noqa: PLC0415 - imported lazily on purpose
        cupy.cuda.runtime.getDeviceCount()
        cupy.zeros(1).sum()  # touches the driver: fails here, not deep inside a layer
    except Exception as exc:  # ImportError, CUDARuntimeError, ...
        raise BackendError(
            "MINICNN_DEVICE=gpu needs CuPy and a working NVIDIA GPU, but "
            f"CuPy could not be used: {type(exc).__name__}: {exc}. "
            "Install the extra that matches your CUDA (pip install 'minicnn[gpu-cuda12]' "
            "or 'minicnn[gpu-cuda13]') or use MINICNN_DEVICE=cpu."
        ) from None
    _cupy = cupy
    return cupy


def gpu_available() -> bool:
    """True when CuPy imports and a CUDA device answers."""
    try:
        _import_cupy()
        return True
    except BackendError:
        return False


def set_device(device: str) -> None:
    """Choose where new arrays live: ``'cpu'``, ``'gpu'`` or ``'auto'``."""
    if device not in _VALID_DEVICES:
        raise ValueError(f"device must be one of {_VALID_DEVICES}, got {device!r}")
    if device == "gpu":
        _import_cupy()
    elif device == "auto":
        device = "gpu" if gpu_available() else "cpu"
    _state["device"] = device


def get_device() -> str:
    """The device in use, resolving ``MINICNN_DEVICE`` on first use."""
    if _state["device"] is None:
        set_device(os.environ.get("MINICNN_DEVICE", "auto").lower())
    return _state["device"]


def default_xp():
    """The array module for new arrays on the current device."""
    return _import_cupy() if get_device() == "gpu" else np


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def to_device(array, dtype=None):
    """Move an array (NumPy, CuPy, list, scalar) onto the current device."""
    xp = default_xp()
    if xp is np:
        return to_numpy(array) if dtype is None else to_numpy(array).astype(dtype, copy=False)
    out = xp.asarray(array)
    return out if dtype is None else out.astype(dtype, copy=False)


def to_numpy(array):
    """Return a NumPy array whatever the input lives on."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return array.get()
    return np.asarray(array)


def floatx() -> str:
    """The default float dtype of weights and activations (``'float32'``)."""
    return _state["floatx"]


def set_floatx(dtype: str) -> None:
    """Set the default float dtype: ``'float32'`` or ``'float64'``."""
    dtype = np.dtype(dtype).name
    if dtype not in _VALID_FLOATX:
        raise ValueError(f"floatx must be one of {_VALID_FLOATX}, got {dtype!r}")
    _state["floatx"] = dtype


def epsilon() -> float:
    """The fuzz factor Keras uses in losses and optimizers (1e-7)."""
    return 1e-7
