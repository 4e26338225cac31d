"""NumPy standing in for CuPy, to check the GPU path's host traffic on the CPU.

Code that picks its array module from the data (``backend.get_array_module``)
takes its GPU branch when handed ``NumpyAsDevice()``; the arrays stay NumPy
arrays, and every host-to-device copy (``asarray``) is counted.
"""
from __future__ import annotations

import numpy as np


class NumpyAsDevice:
    """An array module that is not ``numpy`` but computes with it, counting ``asarray`` calls."""

    def __init__(self):
        self.copies = 0

    def __getattr__(self, name):
        return getattr(np, name)

    def asarray(self, a, *args, **kwargs):
        self.copies += 1
        return np.asarray(a, *args, **kwargs)
