"""3x3 stride-1 DepthwiseConv2D: the row kernels against the nine-tap kernel, forward and dx, one process.

    python -m benchmarks.depthwise [--batch 32] [--rounds 5]

The shapes are the stride-1 depthwise layers of the backbones in
``backbone_workload.py`` (MobileNet 0.25 and MobileNetV2 0.35 at 96x96,
Xception at 71x71), 'same' padding, float32, the batch split over the cores
as in a real step. The two kernels are timed alternately, best of
``--rounds`` each. ``ops/kernels/numba_depthwise_3x3.py`` is used from
``NINE_TAP_MIN_CHANNELS`` channels, where this table says it wins.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from minicnn.ops import kernels
from minicnn.ops.kernels import numba_depthwise, numba_depthwise_3x3
from minicnn.ops.shapes import WindowGeometry

# (side, channels, which backbone has it)
SHAPES = ((48, 8, "MobileNet"), (48, 16, "MobileNetV2"), (24, 32, "MobileNet"), (24, 48, "MobileNetV2"),
          (12, 64, "MobileNet"), (12, 96, "MobileNetV2"), (6, 128, "MobileNet"), (6, 144, "MobileNetV2"),
          (6, 192, "MobileNetV2"), (3, 256, "MobileNet"), (3, 336, "MobileNetV2"), (33, 64, "Xception"),
          (33, 128, "Xception"), (17, 128, "Xception"), (17, 256, "Xception"), (9, 256, "Xception"),
          (9, 728, "Xception"), (5, 728, "Xception"), (3, 1024, "Xception"), (3, 1536, "Xception"))


def with_nine_taps_from(channels: int, fn):
    """``fn`` run with the nine-tap kernel taking layers from ``channels`` channels
    (1: every 3x3 stride-1 layer; a huge number: none, the row kernels instead)."""
    def call():
        saved = numba_depthwise_3x3.NINE_TAP_MIN_CHANNELS
        numba_depthwise_3x3.NINE_TAP_MIN_CHANNELS = channels
        try:
            fn()
        finally:
            numba_depthwise_3x3.NINE_TAP_MIN_CHANNELS = saved
    return call


def alternated_best_ms(fns: dict, rounds: int) -> dict:
    """Each function once to warm up, then ``rounds`` rounds of all in turn; the best time of each."""
    for fn in fns.values():
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], 1e3 * (time.perf_counter() - start))
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'map':>9} {'backbone':<12} {'fwd rows':>9} {'fwd 9-tap':>10} {'ratio':>6} "
          f"{'dx rows':>8} {'dx 9-tap':>9} {'ratio':>6}  chosen")
    for side, c, backbone in SHAPES:
        x = rng.standard_normal((args.batch, side, side, c)).astype(np.float32)
        w = rng.standard_normal((3, 3, c, 1)).astype(np.float32)
        g = rng.standard_normal(x.shape).astype(np.float32)
        geom = WindowGeometry.make(side, side, (3, 3), (1, 1), "same")

        def forward():
            numba_depthwise.depthwise_forward(x, w, None, geom)

        def input_grad():
            numba_depthwise.depthwise_backward(g, x, w, None, geom, False, (True, False, False))

        with kernels.blas_on_one_thread():
            ms = alternated_best_ms({"fwd rows": with_nine_taps_from(1 << 62, forward),
                                     "fwd nine": with_nine_taps_from(1, forward),
                                     "dx rows": with_nine_taps_from(1 << 62, input_grad),
                                     "dx nine": with_nine_taps_from(1, input_grad)}, args.rounds)
        chosen = "nine-tap" if numba_depthwise_3x3.applies(geom, w) else "rows"
        print(f"{side:>4}x{side:<2}x{c:<4} {backbone:<12} {ms['fwd rows']:>9.3f} {ms['fwd nine']:>10.3f} "
              f"{ms['fwd rows'] / ms['fwd nine']:>5.2f}x {ms['dx rows']:>8.3f} {ms['dx nine']:>9.3f} "
              f"{ms['dx rows'] / ms['dx nine']:>5.2f}x  {chosen}")


if __name__ == "__main__":
    main()
