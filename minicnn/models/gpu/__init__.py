"""What the training loop does differently on a GPU, behind one function.

On the CPU a loop over batches is just that. On the GPU (``MINICNN_DEVICE=gpu``)
two things pay off, both GPU-only and both here:

* ``prefetch.py``: each batch is staged in pinned host memory and copied to
  the device on a second stream while the previous step still computes;
* ``graph.py``: with ``MINICNN_CUDA_GRAPH=1``, a whole training step is
  captured once as a CUDA graph and replayed with one launch.

``fit``, ``evaluate`` and ``predict`` (``models/training.py``) call
``on_device`` and nothing else from here.
"""
from __future__ import annotations

from ... import backend


def on_device(model, batches):
    """(batches, train_step) for a loop on the current device: on the CPU the
    batches as given and ``model._train_batch``; on the GPU the batches
    prefetched onto the device and the step, captured as a CUDA graph when
    ``MINICNN_CUDA_GRAPH=1``. CuPy is imported only on the GPU path."""
    if backend.get_device() != "gpu":
        return batches, model._train_batch
    from .graph import train_step_function  # noqa: PLC0415 - GPU only
    from .prefetch import DeviceBatches  # noqa: PLC0415 - GPU only

    return DeviceBatches(batches), train_step_function(model)
