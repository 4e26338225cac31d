"""Per-kernel table: each conv/pool/dense of the seed CNN, forward and backward.

For every layer of the seed CNN at batch 128 this times the layer's Function
(forward, then backward with a random upstream gradient) once with the NumPy
reference kernels and once with the Numba kernels, best of ``repeats``.
GFLOP/s counts multiply-adds as two operations; for pooling it counts one
operation per window cell visited (so the numbers compare the two kernel sets,
not pooling with convolution).

``python -m benchmarks`` runs this table in a child process on one thread
(``MINICNN_THREADS=1``, one BLAS thread), so that it compares the kernels
themselves, not how threads cope with a busy machine. Each layer runs the
Function the seed CNN's layer runs: Conv2D and the first Dense with their ReLU
fused in, the last Dense without; the rows "fused" time the Function that
really runs for the Conv2D + MaxPooling2D pairs of the Sequential model.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from minicnn.autograd import Tensor
from minicnn.ops import kernels
from minicnn.ops.conv import Conv2DFunction
from minicnn.ops.conv_pool import Conv2DReLUMaxPoolFunction
from minicnn.ops.dense import DenseFunction
from minicnn.ops.pool import MaxPool2DFunction
from minicnn.ops.shapes import WindowGeometry

from .workload import BATCH

# (name, kind, input shape without batch, window/units, output channels)
SEED_LAYERS = (
    ("conv2d 3x3 3->32 @32x32 +relu", "conv", (32, 32, 3), 3, 32),
    ("maxpool 2x2 @32x32x32", "pool", (32, 32, 32), 2, 32),
    ("  fused: conv 3->32 + pool", "conv_pool", (32, 32, 3), 3, 32),
    ("conv2d 3x3 32->64 @16x16 +relu", "conv", (16, 16, 32), 3, 64),
    ("maxpool 2x2 @16x16x64", "pool", (16, 16, 64), 2, 64),
    ("  fused: conv 32->64 + pool", "conv_pool", (16, 16, 32), 3, 64),
    ("conv2d 3x3 64->64 @8x8 +relu", "conv", (8, 8, 64), 3, 64),
    ("dense 4096->128 +relu", "dense", (4096,), None, 128),
    ("dense 128->10", "dense", (128,), None, 10),
)


def _function_and_inputs(kind, shape, size, out_ch, batch, rng):
    x = rng.standard_normal((batch, *shape), dtype=np.float32)
    if kind in ("conv", "conv_pool"):
        geom = WindowGeometry.make(shape[0], shape[1], (size, size), (1, 1), "same")
        w = rng.standard_normal((size, size, shape[2], out_ch), dtype=np.float32)
        b = np.zeros(out_ch, np.float32)
        flops = 2 * batch * geom.out_h * geom.out_w * size * size * shape[2] * out_ch
        if kind == "conv_pool":  # GFLOP/s count the conv's multiply-adds only
            pool = WindowGeometry.make(geom.out_h, geom.out_w, (2, 2), (2, 2), "valid")
            return (lambda: Conv2DReLUMaxPoolFunction(geom, pool)), (x, w, b), flops, 2 * flops
        return (lambda: Conv2DFunction(geom, relu=True)), (x, w, b), flops, 2 * flops
    if kind == "pool":
        geom = WindowGeometry.make(shape[0], shape[1], (size, size), (size, size), "valid")
        ops = batch * geom.out_h * geom.out_w * shape[2] * size * size
        return (lambda: MaxPool2DFunction(geom)), (x,), ops, ops
    w = rng.standard_normal((shape[0], out_ch), dtype=np.float32)
    b = np.zeros(out_ch, np.float32)
    flops = 2 * batch * shape[0] * out_ch
    return (lambda: DenseFunction(relu=out_ch != 10)), (x, w, b), flops, 2 * flops


def _best_ms(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return 1e3 * best


def time_layer(kind, shape, size, out_ch, batch=BATCH, repeats=5, seed=0):
    """(forward ms, backward ms, forward flops, backward flops) with the current kernels."""
    rng = np.random.default_rng(seed)
    make, arrays, fwd_flops, bwd_flops = _function_and_inputs(kind, shape, size, out_ch, batch, rng)
    image_input = kind in ("conv", "conv_pool") and shape[-1] == 3  # the first layer needs no input gradient
    tensors = [Tensor(a, requires_grad=i > 0 or not image_input) for i, a in enumerate(arrays)]
    fn = make()
    out = fn(*tensors)
    g = rng.standard_normal(out.shape, dtype=np.float32)
    fwd = _best_ms(lambda: make()(*tensors), repeats)
    bwd = _best_ms(lambda: fn.backward(g), repeats)
    return fwd, bwd, fwd_flops, bwd_flops


def run(repeats=5, batch=BATCH, implementations=("numpy", "numba")) -> list[dict]:
    """One row per (layer, phase) with ms and GFLOP/s for each implementation."""
    rows = {}
    saved = os.environ.get("MINICNN_KERNELS")
    try:
        for impl in implementations:
            os.environ["MINICNN_KERNELS"] = impl
            for name, kind, shape, size, out_ch in SEED_LAYERS:
                time_layer(kind, shape, size, out_ch, batch, repeats=1)  # warm-up / compile
                fwd, bwd, ff, bf = time_layer(kind, shape, size, out_ch, batch, repeats)
                for phase, ms, flops in (("forward", fwd, ff), ("backward", bwd, bf)):
                    row = rows.setdefault((name, phase), {"layer": name, "phase": phase})
                    row[f"{impl}_ms"] = ms
                    row[f"{impl}_gflops"] = flops / ms / 1e6
    finally:
        if saved is None:
            os.environ.pop("MINICNN_KERNELS", None)
        else:
            os.environ["MINICNN_KERNELS"] = saved
    return list(rows.values())


def format_table(rows) -> str:
    lines = [f"{'layer':<32}{'phase':<10}{'numpy ms':>10}{'GFLOP/s':>9}{'numba ms':>10}{'GFLOP/s':>9}"
             f"{'speed-up':>10}"]
    for r in rows:
        lines.append(f"{r['layer']:<32}{r['phase']:<10}{r['numpy_ms']:>10.2f}{r['numpy_gflops']:>9.1f}"
                     f"{r['numba_ms']:>10.2f}{r['numba_gflops']:>9.1f}{r['numpy_ms'] / r['numba_ms']:>9.2f}x")
    return "\n".join(lines)


def first_call_seconds() -> dict:
    """Seconds the first Numba call of each kernel takes in this process
    (loading from the on-disk cache, or compiling if there is none)."""
    from minicnn.ops.kernels import numba_conv, numba_cpu  # noqa: PLC0415

    geom = WindowGeometry.make(8, 8, (3, 3), (1, 1), "same")
    pool = WindowGeometry.make(8, 8, (2, 2), (2, 2), "valid")
    x = np.ones((2, 8, 8, 4), np.float32)
    w = np.ones(16, np.float32)
    calls = {
        "im2col": lambda: numba_conv.im2col(x, geom),
        "col2im": lambda: numba_conv.col2im(np.ones((128, 36), np.float32), x.shape, geom),
        "maxpool_forward": lambda: numba_cpu.maxpool_forward(x, pool),
        "maxpool_backward": lambda: numba_cpu.maxpool_backward(
            np.ones((2, 4, 4, 4), np.float32), np.zeros((2, 4, 4, 4), np.uint8), x.shape, pool),
        "relu_forward": lambda: numba_cpu.relu_forward(x),
        "relu_backward": lambda: numba_cpu.relu_backward(x, x > 0),
        "adam_update": lambda: numba_cpu.adam_update(w, w.copy(), w.copy(), w.copy(), None,
                                                     1e-3, 0.9, 0.999, 1e-7),
    }
    seconds = {}
    for name, call in calls.items():
        start = time.perf_counter()
        call()
        seconds[name] = time.perf_counter() - start
    return seconds


def main():
    """Print the table, or with ``--json`` its rows as one JSON line."""
    rows = run(repeats=int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 5)
    print(json.dumps(rows) if "--json" in sys.argv else format_table(rows))


if __name__ == "__main__":
    main()
