"""Per-kernel table: each compiled kernel at the seed CNN's shapes, batch 128.

    python -m benchmarks.gpu.kernels [BATCH]     # prints one JSON line: {"rows": [...]}

Every kernel is timed twice on the current device (``MINICNN_DEVICE``): the
override (``MINICNN_KERNELS=numba``: on the GPU the numba.cuda kernels of
``ops/kernels/cupy_gpu.py``, on the CPU the Numba ones) and the reference code
it overrides (plain array code, ``MINICNN_KERNELS=numpy``). On the GPU with CUDA
events (``cupyx.profiler.benchmark``: GPU time, not host time); on the CPU (the
``--dry-run`` rehearsal) with the host clock. Memory-bound kernels report
achieved GB/s (bytes that must cross DRAM at least once: inputs read plus
outputs written), GEMMs TFLOP/s (2·M·N·K); on the GPU both against the card's
peak, computed from its properties. PyTorch's cuDNN convolution of the same
shape is listed for comparison where PyTorch and a GPU are there.
"""
from __future__ import annotations

import json
import sys

import numpy as np

from minicnn import backend
from minicnn.ops import im2col as windows
from minicnn.ops import kernels, pool
from minicnn.ops.activation_ops import ReLU
from minicnn.ops.shapes import WindowGeometry
from minicnn.optimizers import Adam

from ..winograd import best_ms

IMPLEMENTATIONS = ("override", "reference")
FP32_LANES_PER_SM = {(7, 0): 64, (7, 5): 64, (8, 0): 64, (8, 6): 128, (8, 7): 128, (8, 9): 128, (9, 0): 128,
                     (10, 0): 128, (12, 0): 128}


def _reference_relu(x):
    relu = ReLU()
    return relu.forward(x), relu.slope


# the reference code each override replaces (run with MINICNN_KERNELS=numpy)
REFERENCES = {"im2col": windows.im2col, "col2im": windows.col2im,
              "maxpool_forward": pool.maxpool_forward, "maxpool_backward": pool.maxpool_backward,
              "relu_forward": _reference_relu, "relu_backward": lambda g, mask: g * mask}


def peaks(cupy):
    """(name, peak DRAM GB/s, peak FP32 TFLOP/s without tensor cores) of device 0."""
    p = cupy.cuda.runtime.getDeviceProperties(0)
    name = p["name"].decode() if isinstance(p["name"], bytes) else p["name"]
    gbs = 2 * p["memoryClockRate"] * 1e3 * p["memoryBusWidth"] / 8 / 1e9
    lanes = FP32_LANES_PER_SM.get((p["major"], p["minor"]), 128)
    tflops = 2 * lanes * p["multiProcessorCount"] * p["clockRate"] * 1e3 / 1e12
    return name, gbs, tflops


def _ms(fn, on_gpu, repeat):
    """Milliseconds of ``fn()``: the median of CUDA events on the GPU, the best host time on the CPU."""
    if not on_gpu:
        return best_ms(fn, repeat)
    from cupyx.profiler import benchmark  # noqa: PLC0415

    return float(np.median(benchmark(fn, n_repeat=repeat, n_warmup=5).gpu_times[0])) * 1e3


def rows(batch=128, repeat=50):
    """Table rows: (kernel, shape, implementation, ms, achieved, % of peak or None)."""
    xp = backend.default_xp()
    on_gpu = backend.get_device() == "gpu"
    _, peak_gbs, peak_tflops = peaks(xp) if on_gpu else (None, None, None)
    rng = np.random.default_rng(0)
    out = []

    def of_peak(value, peak):
        return None if peak is None else 100 * value / peak

    def mem_row(name, shape, impl, ms, nbytes):
        gbs = nbytes / (ms / 1e3) / 1e9
        out.append((name, shape, impl, ms, f"{gbs:.0f} GB/s", of_peak(gbs, peak_gbs)))

    def timed(name, impl, *args):
        with kernels.use("numba" if impl == "override" else "numpy"):
            fn = kernels.fast_kernel(name, args[0]) if impl == "override" else REFERENCES[name]
            if fn is None:
                raise RuntimeError(f"no {name} override on {backend.get_device()} (kernels.unavailable(): "
                                   f"{kernels.unavailable()})")
            return _ms(lambda: fn(*args), on_gpu, repeat), fn(*args)

    for h, c_in, c_out in ((32, 3, 32), (16, 32, 64), (8, 64, 64)):
        x = xp.asarray(rng.standard_normal((batch, h, h, c_in), dtype=np.float32))
        geom = WindowGeometry.make(h, h, (3, 3), (1, 1), "same")
        shape = f"{batch}x{h}x{h}x{c_in} 3x3"
        for impl in IMPLEMENTATIONS:
            ms, cols = timed("im2col", impl, x, geom)
            mem_row("im2col", shape, impl, ms, x.nbytes + cols.nbytes)
            ms, back = timed("col2im", impl, cols, x.shape, geom)
            mem_row("col2im (gather)", shape, impl, ms, cols.nbytes + back.nbytes)
        w = xp.asarray(rng.standard_normal((cols.shape[1], c_out), dtype=np.float32))
        ms = _ms(lambda: cols @ w, on_gpu, repeat)
        tf = 2 * cols.shape[0] * cols.shape[1] * c_out / (ms / 1e3) / 1e12
        gemm = "conv GEMM (cuBLAS)" if on_gpu else "conv GEMM (BLAS)"
        out.append((gemm, f"{cols.shape[0]}x{cols.shape[1]} @ {c_out}",
                    "reference", ms, f"{tf:.2f} TFLOP/s", of_peak(tf, peak_tflops)))
        if on_gpu:
            out.extend(_torch_conv(batch, h, c_in, c_out, peak_tflops))
        pooled = xp.asarray(rng.standard_normal((batch, h, h, c_out), dtype=np.float32))
        pgeom = WindowGeometry.make(h, h, (2, 2), (2, 2), "valid")
        pshape = f"{batch}x{h}x{h}x{c_out} 2x2"
        for impl in IMPLEMENTATIONS:
            ms, (y, arg) = timed("maxpool_forward", impl, pooled, pgeom)
            mem_row("maxpool forward", pshape, impl, ms, pooled.nbytes + y.nbytes + arg.nbytes)
            ms, dx = timed("maxpool_backward", impl, y, arg, pooled.shape, pgeom)
            mem_row("maxpool backward", pshape, impl, ms, y.nbytes + arg.nbytes + dx.nbytes)
            ms, (r, mask) = timed("relu_forward", impl, pooled)
            mem_row("relu forward", pshape[:-4], impl, ms, pooled.nbytes + r.nbytes + mask.nbytes)
            ms, _ = timed("relu_backward", impl, pooled, mask)
            mem_row("relu backward", pshape[:-4], impl, ms, 2 * pooled.nbytes + mask.nbytes)
    n = 582_026  # the seed CNN's parameters, as one flat array
    w, g, m = (xp.asarray(rng.standard_normal(n, dtype=np.float32)) for _ in range(3))
    v = xp.abs(xp.asarray(rng.standard_normal(n, dtype=np.float32)))
    adam = Adam(1e-3)
    adam.iterations = 1
    for impl in IMPLEMENTATIONS:
        with kernels.use("numba" if impl == "override" else "numpy"):
            ms = _ms(lambda: adam.update(w, g, {"m": m, "v": v}, 1e-3), on_gpu, repeat)
        mem_row("adam update", f"{n} params", impl, ms, 7 * 4 * n)
    return out


def _torch_conv(batch, h, c_in, c_out, peak_tflops):
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return []
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    x = torch.randn(batch, c_in, h, h, device="cuda")
    conv = torch.nn.Conv2d(c_in, c_out, 3, padding=1).cuda()
    with torch.no_grad():
        for _ in range(5):
            conv(x)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(50):
            conv(x)
        end.record()
        torch.cuda.synchronize()
    ms = start.elapsed_time(end) / 50
    tf = 2 * batch * h * h * 9 * c_in * c_out / (ms / 1e3) / 1e12
    return [("conv forward (cuDNN, PyTorch)", f"{batch}x{c_in}x{h}x{h} 3x3 -> {c_out}", "torch", ms,
             f"{tf:.2f} TFLOP/s", 100 * tf / peak_tflops)]


def main(argv) -> None:
    batch = int(argv[0]) if argv else 128
    print(json.dumps({"device": backend.get_device(), "batch": batch,
                      "rows": [list(r) for r in rows(batch, repeat=50 if backend.get_device() == "gpu" else 3)]}))


if __name__ == "__main__":
    main(sys.argv[1:])
