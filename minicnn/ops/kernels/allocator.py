"""Keep freed memory for the next training step (glibc's ``malloc`` settings).

Every training step allocates the same big temporaries again: im2col matrices
(up to 38 MB each for the seed CNN at batch 128), activations, masks and
gradients. By default glibc hands blocks above a few MB straight back to the
operating system when they are freed, so the next step gets fresh pages and
the kernel must fault in and zero each 4 KiB page on first touch. That costs
more than the work done on the data in some ops.

Raising two thresholds keeps freed blocks in the process' heap, where the
next step reuses them. Peak memory is the same or lower (it is the largest
working set of one step either way), and it stays flat over epochs because
each step frees what the previous one allocated. Measured on the seed CNN:
16-25% more training throughput.

It is a process-wide setting of the C library, so it is applied once, only
on glibc, and ``MINICNN_MALLOC_CACHE=0`` turns it off.
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
M_MMAP_THRESHOLD = -3
KEEP_BELOW = 1 << 30  # blocks up to 1 GiB come from (and return to) the heap

_applied: list[bool] = []


def keep_freed_memory() -> bool:
    """Apply the setting once; True if it is in effect."""
    if not _applied:
        _applied.append(_apply())
    return _applied[0]


def _apply() -> bool:
    if os.environ.get("MINICNN_MALLOC_CACHE", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP_BELOW)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2 * KEEP_BELOW))
