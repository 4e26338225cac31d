"""Feeding the GPU: each batch crosses to the device once, overlapped with compute.

A host-to-device copy from ordinary (pageable) memory is slow and blocks the
host: the driver first copies the data into a pinned (page-locked) staging
buffer. ``DeviceBatches`` does the staging itself, into pinned buffers it
keeps, and issues the copy on a second CUDA stream while the GPU is still busy
with the current training step::

    host batch k+1 -> pinned buffer -> (copy stream) -> device  ||  step k (compute stream)

Two events keep this correct without ever stalling the GPU:

* the copy of batch k+1 waits (on the device) for the work queued so far on
  the compute stream, because its destination came from CuPy's memory pool
  and may be memory the previous step just released;
* the compute stream waits (on the device) for that copy before the step
  that uses batch k+1.

A pinned buffer is reused two batches later, after its own copy has finished
(long since, in practice). ``fit``/``evaluate``/``predict`` reach it through
``models/gpu/__init__.py::on_device``.
"""
from __future__ import annotations

import numpy as np

from ... import backend


class DeviceBatches:
    """Wrap an iterable of ``(x, y)`` batches (arrays, lists of arrays, or None)."""

    SLOTS = 2  # pinned buffers per input: one being copied, one being filled

    def __init__(self, batches):
        self.batches = batches
        self._pinned: dict[tuple, tuple] = {}  # (input, slot) -> (pinned array, event of its last copy)
        self._count = 0

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        cupy = backend.default_xp()
        self._copy_stream = cupy.cuda.Stream(non_blocking=True)
        pending = None
        for batch in self.batches:
            staged = self._stage(cupy, batch)
            if pending is not None:
                yield self._hand_over(cupy, pending)
            pending = staged
        if pending is not None:
            yield self._hand_over(cupy, pending)

    def _stage(self, cupy, batch):
        """Start copying one batch to the device; returns it (device arrays) and its event."""
        slot = self._count % self.SLOTS
        self._count += 1
        self._copy_stream.wait_event(cupy.cuda.get_current_stream().record())
        leaves = iter(range(1 << 30))
        moved = tuple(self._move(cupy, part, leaves, slot) for part in batch)
        return moved, self._copy_stream.record()

    def _move(self, cupy, part, leaves, slot):
        if part is None or isinstance(part, cupy.ndarray):
            return part
        if isinstance(part, (list, tuple)):
            return type(part)(self._move(cupy, p, leaves, slot) for p in part)
        host = np.ascontiguousarray(part)
        key = (next(leaves), slot)
        pinned, last_copy = self._pinned.get(key, (None, None))
        if last_copy is not None:
            last_copy.synchronize()  # the copy from this buffer two batches ago (done long ago)
        if pinned is None or pinned.shape != host.shape or pinned.dtype != host.dtype:
            from cupyx import empty_pinned  # noqa: PLC0415 - GPU only

            pinned = empty_pinned(host.shape, dtype=host.dtype)
        np.copyto(pinned, host)
        out = cupy.empty(host.shape, dtype=host.dtype)  # from the compute stream's pool
        out.set(pinned, stream=self._copy_stream)
        self._pinned[key] = (pinned, self._copy_stream.record())
        return out

    @staticmethod
    def _hand_over(cupy, staged):
        batch, copied = staged
        cupy.cuda.get_current_stream().wait_event(copied)
        return batch
