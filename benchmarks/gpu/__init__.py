"""GPU measurements: ``python -m benchmarks.gpu`` on a machine with an NVIDIA GPU.

One command runs every GPU check of the GPU-backend issue and writes the tables:

1. the GPU test suite (``pytest -m gpu``: layers, GPU kernels, parity cases,
   save/load across devices, captured step = eager step, memory pool);
2. end to end, batch 128, float32: minicnn (eager and CUDA graph) vs PyTorch
   eager (and ``torch.compile`` where it runs), training and inference img/s;
3. scaling: batch 32 / 128 / 512 / 2048, img/s and peak GPU memory;
4. per kernel: ms and achieved GB/s or TFLOP/s against the card's peak;
5. the full 20-epoch seed recipe on CIFAR-10: test accuracy and wall time.

TF32 is off on both sides (CuPy: ``CUPY_TF32`` unset; PyTorch: both
``allow_tf32`` flags False), so float32 means float32 everywhere.
Each framework configuration runs in its own process (``endtoend.py``), so
neither memory pool sees the other; the ratios come from one run.
"""
