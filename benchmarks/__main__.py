"""``python -m benchmarks [--quick]``: kernel table, end-to-end table, JSON and a chart.

Writes ``results.json`` and ``results.png`` into ``--out`` (default
``benchmarks/results``). ``--quick`` is a smoke run for CI: fewer images, one
round, no NumPy-kernel end-to-end run and no epoch check.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import endtoend, kernels
from .endtoend import ROOT
from .workload import BATCH


VECTOR_UNITS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")


def cpu_description(cpuinfo: str) -> dict:
    """The model name and which of ``VECTOR_UNITS`` the CPU has, from the text
    of /proc/cpuinfo (its first processor; every core of these machines is alike)."""
    fields = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {"cpu": fields.get("model name", ""), "vector_units": [f for f in VECTOR_UNITS if f in flags]}


def machine() -> dict:
    """The CPU, and its widest vector units: the ratio to Keras depends on them
    (TensorFlow's oneDNN kernels gain more from AVX-512 than OpenBLAS does)."""
    cpuinfo = Path("/proc/cpuinfo")
    import numba  # noqa: PLC0415

    return {**cpu_description(cpuinfo.read_text() if cpuinfo.exists() else ""), "cores": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__,
            "load_average_at_start": os.getloadavg()}


def numba_first_call() -> dict:
    """First-call seconds of each Numba kernel in a fresh process: with an empty
    cache (compiling) and again with the cache that run left (loading)."""
    code = "import json; from benchmarks.kernels import first_call_seconds; print(json.dumps(first_call_seconds()))"
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        for label in ("cold_cache_s", "warm_cache_s"):
            proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                                  text=True, check=True)
            out[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def kernel_table(repeats: int) -> list[dict]:
    """``kernels.run`` in a child process on one thread (no batch split, one BLAS thread)."""
    env = {**os.environ, **endtoend.ONE_THREAD, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.kernels", "--json", "--repeats", str(repeats)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def plot(result, path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = result["end_to_end"]["rows"]
    names = [r["framework"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, key, title in zip(axes, ("train_img_s", "infer_img_s", "peak_rss_train_mb"),
                              ("training img/s", "inference img/s", "peak RSS while training (MB)")):
        bars = ax.bar(names, [r[key] for r in rows], color=["C0" if n.startswith("minicnn") else "C7" for n in names])
        ax.bar_label(bars, fmt="%.0f")
        ax.set_title(title)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    fig.suptitle(f"seed CIFAR-10 CNN, batch 128, float32, Adam - {result['machine']['cpu']} "
                 f"({result['machine']['cores']} cores)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description="minicnn benchmarks")
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=6400, help="training and inference images per run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--skip-kernels", action="store_true")
    parser.add_argument("--skip-end-to-end", action="store_true")
    args = parser.parse_args(argv)
    rounds, images = (1, 512) if args.quick else (args.rounds, args.images)
    result = {"command": " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]),
              "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine()}

    if not args.skip_kernels:
        print("== per-kernel table (batch 128, best of 5, one thread) ==")
        result["kernels"] = kernel_table(repeats=2 if args.quick else 5)
        print(kernels.format_table(result["kernels"]))
        result["numba_first_call"] = numba_first_call()
        for label, seconds in result["numba_first_call"].items():
            print(f"numba first call, {label}: {sum(seconds.values()):.2f} s for {len(seconds)} kernels")

    if not args.skip_end_to_end:
        print(f"== end to end ({rounds} round(s), {images} images) ==")
        result["end_to_end"] = endtoend.run(rounds, images, images, quick=args.quick)
        print(endtoend.format_table(result["end_to_end"]))
        if not args.quick:
            # one thread: on a shared machine the default threads' noise would hide the trend
            check = endtoend.run_worker("minicnn", {"MINICNN_KERNELS": "numba", **endtoend.ONE_THREAD},
                                        images, BATCH, epoch_check=True)["epochs"]
            result["epoch_check"] = check
            print(f"epoch time for 2x the images: {check['time_ratio_full_to_half']:.2f}x; resident MB after "
                  f"4 epochs: {', '.join(f'{m:.0f}' for m in check['rss_after_epoch_mb'])}")
    result["machine"]["load_average_at_end"] = os.getloadavg()

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=1))
    if "end_to_end" in result:
        plot(result, args.out / "results.png")
    print(f"wrote {args.out / 'results.json'}" + (" and results.png" if "end_to_end" in result else ""))


if __name__ == "__main__":
    main()
