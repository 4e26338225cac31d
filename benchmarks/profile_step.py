"""Profile training steps of the seed CNN, op by op.

    python -m benchmarks.profile_step [--steps 10]

Runs a few warm-up steps, then ``--steps`` profiled ones, and prints the
profiler table (time per Function class, forward and backward, and the
optimizer update) together with the measured wall time per step; the
difference is time spent outside any op (graph bookkeeping, gradient sums).
"""
from __future__ import annotations

import argparse
import time

from minicnn import profiler

from .workload import BATCH, minicnn_model, random_data


def profile(steps: int = 10, warmup: int = 2) -> dict:
    model = minicnn_model()
    x, y = random_data(BATCH * (steps + warmup))
    batches = [(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(x), BATCH)]
    for xb, yb in batches[:warmup]:
        model.train_on_batch(xb, yb)
    apply = model.optimizer.apply

    def timed_apply(grads, variables):
        with profiler.region("Optimizer.apply"):
            apply(grads, variables)

    model.optimizer.apply = timed_apply
    profiler.reset()
    profiler.enable()
    start = time.perf_counter()
    for xb, yb in batches[warmup:]:
        model.train_on_batch(xb, yb)
    wall_ms = 1e3 * (time.perf_counter() - start) / steps
    profiler.disable()
    return {"wall_ms_per_step": wall_ms, "ops": profiler.results(), "table": profiler.report()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    result = profile(args.steps)
    print(result["table"])
    print(f"wall time per step: {result['wall_ms_per_step']:.1f} ms "
          f"({1e3 * BATCH / result['wall_ms_per_step']:.0f} img/s)")


if __name__ == "__main__":
    main()
