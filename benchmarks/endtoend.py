"""End-to-end table: minicnn vs Keras vs PyTorch, each in its own process.

Rounds alternate the frameworks (the order rotates every round) so that a
machine that gets busier or quieter during the run affects all of them alike;
each framework's best round counts (best-of-N throughput, the median of its
peak memory). Throughputs are then divided by Keras' from the same run.
"""
from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "MINICNN_THREADS": "1"}
# (label, worker framework, extra environment, part of a --quick run)
CANDIDATES = (
    ("minicnn (numba)", "minicnn", {"MINICNN_KERNELS": "numba"}, True),
    ("minicnn (numba, BLAS threads)", "minicnn", {"MINICNN_KERNELS": "numba", "MINICNN_THREADS": "1"}, False),
    ("minicnn (numba, 1 thread)", "minicnn", {"MINICNN_KERNELS": "numba", **ONE_THREAD}, False),
    ("minicnn (numpy)", "minicnn", {"MINICNN_KERNELS": "numpy"}, False),
    ("keras", "keras", {}, True),
    ("pytorch", "torch", {}, True),
)


def installed(framework: str) -> bool:
    return framework == "minicnn" or importlib.util.find_spec(framework) is not None


def run_worker(framework, env, train_images, infer_images, epoch_check=False) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.worker", framework,
           "--train-images", str(train_images), "--infer-images", str(infer_images)]
    if epoch_check:
        cmd.append("--epoch-check")
    full_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{framework} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(rounds=3, train_images=6400, infer_images=6400, quick=False, log=print) -> dict:
    """All rounds; returns ``{"rows": [...], "runs": {label: [worker results]}}``."""
    chosen = [c[:3] for c in CANDIDATES if installed(c[1]) and (c[3] or not quick)]
    runs = {label: [] for label, _, _ in chosen}
    for r in range(rounds):
        order = chosen[r % len(chosen):] + chosen[:r % len(chosen)]
        for label, framework, env in order:
            result = run_worker(framework, env, train_images, infer_images)
            runs[label].append(result)
            log(f"round {r + 1}/{rounds} {label:<26} train {result['train_img_s']:7.0f} img/s  "
                f"infer {result['infer_img_s']:7.0f} img/s  peak RSS {result['peak_rss_train_mb']:6.0f} MB")
    rows = []
    for label, results in runs.items():
        rows.append({
            "framework": label,
            "train_img_s": max(r["train_img_s"] for r in results),
            "infer_img_s": max(r["infer_img_s"] for r in results),
            "peak_rss_train_mb": statistics.median(r["peak_rss_train_mb"] for r in results),
            "first_run_warmup_s": results[0]["warmup_s"],
        })
    keras = next((row for row in rows if row["framework"] == "keras"), None)
    for row in rows:
        for key in ("train_img_s", "infer_img_s", "peak_rss_train_mb"):
            row[f"{key}_vs_keras"] = row[key] / keras[key] if keras else None
    return {"rows": rows, "runs": runs, "rounds": rounds,
            "train_images": train_images, "infer_images": infer_images}


def format_table(result) -> str:
    lines = [f"{'framework':<27}{'train img/s':>12}{'x Keras':>9}{'infer img/s':>13}{'x Keras':>9}"
             f"{'peak RSS MB':>13}{'x Keras':>9}"]
    for row in result["rows"]:
        def ratio(key):
            value = row[f"{key}_vs_keras"]
            return f"{value:>8.2f}x" if value is not None else f"{'-':>9}"
        lines.append(f"{row['framework']:<27}{row['train_img_s']:>12.0f}{ratio('train_img_s')}"
                     f"{row['infer_img_s']:>13.0f}{ratio('infer_img_s')}"
                     f"{row['peak_rss_train_mb']:>13.0f}{ratio('peak_rss_train_mb')}")
    return "\n".join(lines)
