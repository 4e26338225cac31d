"""Profile steps op by op: the seed CNN's training step, or a backbone's predict / fit.

    python -m benchmarks.profile_step [--steps 10]
    python -m benchmarks.profile_step --backbone mobilenet_v2 --mode predict

Runs a few warm-up steps, then ``--steps`` profiled ones, and prints the
profiler table (time per Function class, forward and backward, and the
optimizer update) together with the measured wall time per step; the
difference is time spent outside any op (graph bookkeeping, gradient sums).
Backbones are those of ``backbone_workload.py`` at batch 32; ``--mode fit``
trains backbone + head with every layer trainable, ``fit-frozen`` with the
backbone frozen inside the graph.
"""
from __future__ import annotations

import argparse
import time

from minicnn import profiler

from . import backbone_workload
from .workload import BATCH, minicnn_model, random_data


def _profiled(step, batches, warmup):
    for batch in batches[:warmup]:
        step(*batch)
    profiler.reset()
    profiler.enable()
    start = time.perf_counter()
    for batch in batches[warmup:]:
        step(*batch)
    wall_ms = 1e3 * (time.perf_counter() - start) / (len(batches) - warmup)
    profiler.disable()
    return {"wall_ms_per_step": wall_ms, "ops": profiler.results(), "table": profiler.report()}


def _timed_optimizer(model):
    apply = model.optimizer.apply

    def timed_apply(grads, variables):
        with profiler.region("Optimizer.apply"):
            apply(grads, variables)

    model.optimizer.apply = timed_apply


def profile(steps: int = 10, warmup: int = 2, backbone: str | None = None, mode: str = "fit") -> dict:
    """The profile of ``steps`` steps; ``batch`` says how many images a step takes."""
    if backbone is None:
        model, batch = minicnn_model(), BATCH
        x, y = random_data(batch * (steps + warmup))
    else:
        batch = backbone_workload.BATCH
        x, y = backbone_workload.random_images(backbone, batch * (steps + warmup))
        if mode == "predict":
            model = backbone_workload.backbone(backbone, "minicnn")
        else:
            model = backbone_workload.head_model(backbone, "minicnn", frozen_base=mode == "fit-frozen")
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]
    if mode == "predict":
        def step(xb, _):  # as predict runs a batch (BLAS on one thread, freed memory kept); no backward counts it
            model.predict_on_batch(xb)
            profiler.count_step()
    else:
        _timed_optimizer(model)
        step = model.train_on_batch
    result = _profiled(step, batches, warmup)
    result["batch"] = batch
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--backbone", choices=sorted(backbone_workload.BACKBONES), default=None,
                        help="profile this backbone instead of the seed CNN")
    parser.add_argument("--mode", choices=["predict", "fit", "fit-frozen"], default="fit")
    args = parser.parse_args(argv)
    result = profile(args.steps, backbone=args.backbone, mode=args.mode)
    print(result["table"])
    print(f"wall time per step: {result['wall_ms_per_step']:.1f} ms "
          f"({1e3 * result['batch'] / result['wall_ms_per_step']:.0f} img/s)")


if __name__ == "__main__":
    main()
