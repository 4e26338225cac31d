"""3x3 stride-1 convolutions: im2col + GEMM, one GEMM per tap and Winograd F(2x2, 3x3), forward, one process.

    python -m benchmarks.winograd [--batch 32]

The shapes are VGG16's and ResNet's 3x3 layers (and the seed CNN's), 'same'
padding, ReLU, float32, inside the same BLAS-on-one-thread context as a real
step. ``ops/kernels/numba_conv.py`` uses Winograd where this table says it
wins (from 8x8 pixels and 16 channels, weights smaller than the im2col
matrix), per tap on the small maps below that (``tapwise_conv.pays``: the
column is empty where that path does not apply), im2col otherwise.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from minicnn.ops import kernels
from minicnn.ops.kernels import numba_conv, numba_winograd, tapwise_conv
from minicnn.ops.shapes import WindowGeometry

SHAPES = ((32, 32, 32), (32, 64, 64), (16, 32, 64), (16, 64, 64), (16, 64, 128), (16, 128, 128),
          (8, 32, 32), (8, 64, 64), (8, 128, 128), (8, 128, 256), (8, 256, 256), (8, 512, 512), (4, 128, 128),
          (4, 256, 256), (4, 512, 512), (2, 512, 512))


def best_ms(fn, repeats=5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'pixels':>7} {'C->F':>10} {'im2col ms':>10} {'per tap ms':>11} {'winograd ms':>12} {'ratio':>7}  chosen")
    for side, c, f in SHAPES:
        x = rng.standard_normal((args.batch, side, side, c)).astype(np.float32)
        w = (rng.standard_normal((3, 3, c, f)) * 0.1).astype(np.float32)
        geom = WindowGeometry.make(side, side, (3, 3), (1, 1), "same")
        with kernels.blas_on_one_thread():
            im2col = best_ms(lambda: numba_conv._forward(x, w, None, geom, True, pool=False, keep_cols=False))
            winograd = best_ms(lambda: numba_winograd.winograd_conv2d_forward(x, w, None, geom, True, False))
            per_tap = (best_ms(lambda: tapwise_conv.tapwise_conv2d_forward(x, w, None, geom, True))
                       if tapwise_conv.pays(x, w, geom) else None)
        chosen = ("winograd" if numba_conv._winograd_pays(x, w, geom)
                  else "per tap" if per_tap is not None else "im2col")
        taps = "" if per_tap is None else f"{per_tap:.2f}"
        best_other = im2col if per_tap is None else min(im2col, per_tap)
        print(f"{side:>4}x{side:<2} {c:>4}->{f:<5} {im2col:>10.2f} {taps:>11} {winograd:>12.2f} "
              f"{best_other / winograd:>6.2f}x  {chosen}")


if __name__ == "__main__":
    main()
