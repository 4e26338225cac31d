"""Convolutions over small padded maps: the im2col paths against one GEMM per tap, one process.

    python -m benchmarks.tapwise_conv [--batch 32]

The shapes are the 3x3 layers of VGG16 at 32x32 and ResNet50V2 at 64x64 from
their 8x8 stages down, stride 1 and 2, 'same' padding, ReLU, float32, inside the
same BLAS-on-one-thread context as ``predict`` and a training step: the
forward pass alone (``predict``), then forward + backward with all three
gradients (a training step). "im2col" is what ``numba_conv`` runs without the
per-tap path (chunked im2col, Winograd or the GEMM split over the weights,
whichever it picks); ``tapwise_conv.pays`` chooses per tap where this table
says it wins.
"""
from __future__ import annotations

import argparse
import contextlib

import numpy as np

from minicnn.ops import kernels
from minicnn.ops.kernels import numba_conv, tapwise_conv
from minicnn.ops.shapes import WindowGeometry

from .winograd import best_ms

SHAPES = (  # (side, channels in, channels out, stride)
    (16, 64, 64, 1), (16, 128, 128, 1), (16, 256, 256, 1), (8, 64, 64, 1), (8, 128, 128, 1), (8, 256, 256, 1),
    (8, 512, 512, 1), (4, 128, 128, 1), (4, 256, 256, 1), (4, 512, 512, 1), (2, 256, 256, 1), (2, 512, 512, 1),
    (16, 64, 64, 2), (8, 128, 128, 2), (4, 256, 256, 2),
)


@contextlib.contextmanager
def without_taps():
    saved = tapwise_conv.MIN_CHANNELS
    tapwise_conv.MIN_CHANNELS = 1 << 30
    try:
        yield
    finally:
        tapwise_conv.MIN_CHANNELS = saved


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'pixels':>7} {'C->F':>10} {'stride':>6} | forward ms: {'im2col':>7} {'per tap':>8} {'ratio':>6} | "
          f"forward+backward ms: {'im2col':>7} {'per tap':>8} {'ratio':>6} | chosen")
    for side, c, f, stride in SHAPES:
        x = rng.standard_normal((args.batch, side, side, c)).astype(np.float32)
        w = (rng.standard_normal((3, 3, c, f)) * 0.1).astype(np.float32)
        b = np.zeros(f, np.float32)
        geom = WindowGeometry.make(side, side, (3, 3), (stride, stride), "same")
        g = rng.standard_normal((args.batch, geom.out_h, geom.out_w, f)).astype(np.float32)

        def step():
            y, cols = numba_conv.conv2d_forward(x, w, b, geom, True, keep_cols=True)
            numba_conv.conv2d_backward(g, x, w, y, cols, geom, True, (True, True, True))

        with kernels.blas_on_one_thread():
            with without_taps():
                im2col = best_ms(lambda: numba_conv.conv2d_forward(x, w, b, geom, True, keep_cols=False))
                im2col_step = best_ms(step)
            taps = best_ms(lambda: tapwise_conv.tapwise_conv2d_forward(x, w, b, geom, True))
            taps_step = best_ms(lambda: tapwise_conv.tapwise_conv2d_backward(
                g, x, w, tapwise_conv.tapwise_conv2d_forward(x, w, b, geom, True), geom, True, (True, True, True)))
        chosen = "per tap" if tapwise_conv.pays(x, w, geom) else "im2col"
        print(f"{side:>4}x{side:<2} {c:>4}->{f:<5} {stride:>6} | {'':>11} {im2col:>7.2f} {taps:>8.2f} "
              f"{im2col / taps:>5.2f}x | {'':>20} {im2col_step:>7.2f} {taps_step:>8.2f} {im2col_step / taps_step:>5.2f}x"
              f" | {chosen}")


if __name__ == "__main__":
    main()
