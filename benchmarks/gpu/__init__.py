"""GPU measurements: ``python -m benchmarks.gpu`` on a machine with an NVIDIA GPU.

One command runs every GPU check of the GPU-backend issue within one wall-clock
budget and writes the report (``__main__.py`` says which sections, in which
order, and which files). The modules:

* ``__main__.py``: the command line, the order and the budget;
* ``sections.py``: what each section runs; ``commands.py``: subprocesses under
  a timeout taken from the budget; ``report.py``: the Markdown report;
* ``endtoend.py``: one end-to-end measurement per process (minicnn eager or
  CUDA graph, PyTorch eager or ``torch.compile``);
* ``kernels.py``: the per-kernel table;
* ``parity_outputs.py`` and ``cpu_reference.npz``: the parity suite's cases,
  recorded on the CPU and recomputed on the GPU.

``python -m benchmarks.gpu --dry-run`` rehearses all of it on the CPU.
TF32 is off on both sides (CuPy: ``CUPY_TF32`` unset; PyTorch: both
``allow_tf32`` flags False), so float32 means float32 everywhere.
"""
