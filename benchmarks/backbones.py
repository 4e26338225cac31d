"""Backbones side by side: frozen-feature extraction and fine-tuning, minicnn vs Keras.

    python -m benchmarks.backbones [--rounds 2] [--predict-images 640] [--fit-steps 20] [--only NAME ...]

For each backbone of ``backbone_workload.py`` (random weights, no top, average
pooling, batch 32) and each framework, in a fresh process of its own:

* ``predict``: img/s over ``--predict-images`` images, after one warm-up call
  (Keras traces its graph, minicnn's Numba kernels load);
* ``fit``: img/s of one ``fit`` epoch of ``--fit-steps`` steps, backbone + a
  Dense(10) head, every layer trainable; ``fit_frozen`` the same with the
  backbone frozen inside the graph (its BatchNormalization in inference mode);
* memory: RSS after import and build, the process peak, and their difference
  (training growth), since TensorFlow's import alone is hundreds of MB.

Rounds alternate the frameworks (minicnn, Keras, minicnn, ...) so that both
see the machine in the same state; the table keeps each one's best round. The
JSON (``--out``, default ``benchmarks/results/backbones.json``) holds every
round, the machine, its load average before and after, and the settings.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from . import backbone_workload
from .__main__ import machine
from .endtoend import ROOT
from .worker import current_rss_mb, peak_rss_mb

FRAMEWORKS = ("minicnn", "keras")
MEASURES = ("predict", "fit", "fit_frozen")


# -- one framework, one backbone, one process ----------------------------------------------
def measure(framework: str, name: str, predict_images: int, fit_steps: int) -> dict:
    if framework == "keras":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras  # noqa: F401,PLC0415 - its import is part of the baseline RSS
    else:
        import minicnn  # noqa: F401,PLC0415
    batch = backbone_workload.BATCH
    x, y = backbone_workload.random_images(name, max(predict_images, batch * fit_steps))
    model = backbone_workload.backbone(name, framework)
    rss_built = current_rss_mb()
    out = {"framework": framework, "backbone": name, "rss_after_build_mb": rss_built}
    model.predict(x[:batch], batch_size=batch, verbose=0)
    start = time.perf_counter()
    model.predict(x[:predict_images], batch_size=batch, verbose=0)
    out["predict"] = predict_images / (time.perf_counter() - start)
    for label, frozen in (("fit", False), ("fit_frozen", True)):
        model = backbone_workload.head_model(name, framework, frozen_base=frozen)
        model.fit(x[:2 * batch], y[:2 * batch], batch_size=batch, epochs=1, verbose=0)
        n = batch * fit_steps
        start = time.perf_counter()
        model.fit(x[:n], y[:n], batch_size=batch, epochs=1, verbose=0, shuffle=False)
        out[label] = n / (time.perf_counter() - start)
    out["peak_rss_mb"] = peak_rss_mb()
    out["training_growth_mb"] = out["peak_rss_mb"] - rss_built
    return out


def run_worker(framework, name, predict_images, fit_steps) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.backbones", "--worker", framework, name,
           "--predict-images", str(predict_images), "--fit-steps", str(fit_steps)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{framework} {name} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the driver ------------------------------------------------------------------------------
def run(names, rounds, predict_images, fit_steps, log=print) -> dict:
    runs = {name: {fw: [] for fw in FRAMEWORKS} for name in names}
    for r in range(rounds):
        order = FRAMEWORKS if r % 2 == 0 else FRAMEWORKS[::-1]
        for name in names:
            for fw in order:
                result = run_worker(fw, name, predict_images, fit_steps)
                runs[name][fw].append(result)
                log(f"round {r + 1}/{rounds} {name:<13} {fw:<8} " +
                    "  ".join(f"{m} {result[m]:7.1f} img/s" for m in MEASURES) +
                    f"  growth {result['training_growth_mb']:.0f} MB")
    return runs


def best(results: list, measure_name: str) -> float:
    return max(r[measure_name] for r in results)


def table(runs) -> tuple[str, dict]:
    """The table (best round of each) and the ratios, with their geometric means."""
    header = f"{'backbone':<14}" + "".join(f"{m + ' mc':>14}{'keras':>9}{'ratio':>8}" for m in MEASURES)
    lines, ratios = [header], {m: {} for m in MEASURES}
    for name, by_fw in runs.items():
        row = f"{name:<14}"
        for m in MEASURES:
            ours, theirs = best(by_fw["minicnn"], m), best(by_fw["keras"], m)
            ratios[m][name] = ours / theirs
            row += f"{ours:>14.1f}{theirs:>9.1f}{ours / theirs:>7.2f}x"
        lines.append(row)
    geo = {m: math.exp(sum(math.log(v) for v in ratios[m].values()) / len(ratios[m])) for m in MEASURES}
    lines.append(f"{'geometric mean':<14}" + "".join(f"{'':>23}{geo[m]:>7.2f}x" for m in MEASURES))
    memory = [f"{name:<14} training growth MB: minicnn {min(r['training_growth_mb'] for r in fw['minicnn']):.0f}, "
              f"keras {min(r['training_growth_mb'] for r in fw['keras']):.0f}; peak RSS MB: minicnn "
              f"{min(r['peak_rss_mb'] for r in fw['minicnn']):.0f}, keras {min(r['peak_rss_mb'] for r in fw['keras']):.0f}"
              for name, fw in runs.items()]
    return "\n".join(lines + [""] + memory), {"ratios": ratios, "geometric_mean": geo}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "BACKBONE"), help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--predict-images", type=int, default=640)
    parser.add_argument("--fit-steps", type=int, default=20)
    parser.add_argument("--only", nargs="*", choices=sorted(backbone_workload.BACKBONES), default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "backbones.json")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(*args.worker, args.predict_images, args.fit_steps)))
        return
    names = args.only or list(backbone_workload.BACKBONES)
    settings = {"rounds": args.rounds, "predict_images": args.predict_images, "fit_steps": args.fit_steps,
                "batch": backbone_workload.BATCH, "backbones": {n: backbone_workload.BACKBONES[n] for n in names}}
    print(f"== backbones, {args.rounds} round(s): {', '.join(names)} ==")
    info = machine()
    runs = run(names, args.rounds, args.predict_images, args.fit_steps)
    info["load_average_at_end"] = os.getloadavg()
    text, summary = table(runs)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": info, "settings": settings, "runs": runs, **summary,
                                    "table": text}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
