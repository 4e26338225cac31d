"""``python -m benchmarks.gpu [--out DIR] [--only SECTIONS] [--budget-s S] [--dry-run]``: every GPU check, one report.

On the device machine, in one call from the repository root (benchmarks/README.md
says why no install is needed there):

    python3 -m benchmarks.gpu --out "$OUT"

Sections run in this order, most important first, so that a run cut short by its
budget still has the figures the GPU issue must show:

1. ``tests``: the GPU test run (``pytest -m "gpu and not slow" tests/test_gpu.py``).
   First because every figure after it means little if the GPU computes wrong
   numbers, and its summary line is one of the figures to show;
2. ``endtoend``: minicnn (eager and CUDA graph) vs PyTorch eager and
   ``torch.compile``, training and inference at batch 128: the headline targets;
3. ``recipe``: the 20-epoch seed recipe on the real CIFAR-10 (test accuracy,
   wall time). It comes after ``endtoend`` because its time is estimated from
   the end-to-end img/s: it is started only if that estimate fits the budget
   left, instead of being killed half-way;
4. ``scaling``: batch 32/128/512/2048, img/s and peak GPU memory;
5. ``parity``: the parity suite's cases recomputed on the GPU against the CPU's
   saved outputs (``parity_outputs.py``). Later, because ``tests`` already
   compares every layer between the GPU and the CPU, live;
6. ``kernels``: the per-kernel table against the card's peak, a diagnosis tool.

The budget (``--budget-s``, default 480 s: the 8 minutes one device call may
take) is wall-clock time for the whole run. A section starts only when the
seconds it needs are left, and gets at most its own cap
(``sections.SECTIONS``); each subprocess's timeout is what is left of that
(``commands.py``). A section or row that does not fit is reported as
"skipped: budget", never run past the limit. ``REPORT_RESERVE_S`` is kept for
the report itself.

Files written into DIR (the device tool brings back at most 8; these are 6):
gpu_report.md (the tables), gpu_results.json (every number), commands.log
(every measurement's command line and output), pytest_gpu.log, recipe.log and
recipe_result.json (the recipe's own result.json: history and confusion
matrix). The recipe's run folder is temporary. The run first deletes these
files where an earlier run left them in DIR. DIR defaults to $OUT when set
(the device machine's output folder), else runs/gpu-bench.

``--dry-run`` is the rehearsal on a machine without a GPU or CuPy: it sets
``MINICNN_DEVICE=cpu`` (inherited by every subprocess) and runs every section at
tiny sizes (``sections.REHEARSAL_SIZES``), so each command line, JSON line and
table is exercised. Its report says, at the top, that no number in it is a
GPU figure.

TF32 is off on both sides (CuPy: ``CUPY_TF32`` unset; PyTorch: both
``allow_tf32`` flags False), so float32 means float32 everywhere.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

from ..__main__ import machine
from .commands import Budget
from .report import report
from .sections import (COMMANDS_LOG, GPU_SIZES, PYTEST_LOG, RECIPE_LOG, RECIPE_RESULT, REHEARSAL_SIZES, SECTIONS,
                       Run, skipped)

REPORT, RESULTS = "gpu_report.md", "gpu_results.json"
OUT_FILES = (REPORT, RESULTS, COMMANDS_LOG, PYTEST_LOG, RECIPE_LOG, RECIPE_RESULT)
DEFAULT_BUDGET_S = 480
REPORT_RESERVE_S = 10


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment(device: str) -> dict:
    """The machine and the versions; the GPU's name and peaks (CuPy is imported only for the GPU)."""
    info = {"device": device, **machine(), "torch": _version("torch"), "numba-cuda": _version("numba-cuda")}
    if device != "gpu":
        info["cupy"] = "installed, not used" if importlib.util.find_spec("cupy") else "not installed"
        info["gpu"] = "none: CPU rehearsal (MINICNN_DEVICE=cpu)"
        return info
    try:
        import cupy  # noqa: PLC0415

        from .kernels import peaks  # noqa: PLC0415

        name, gbs, tflops = peaks(cupy)
        info.update(gpu=name, peak_dram_gb_s=round(gbs), peak_fp32_tflops=round(tflops, 1), cupy=cupy.__version__,
                    cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(), driver=cupy.cuda.runtime.driverGetVersion())
    except Exception as exc:  # noqa: BLE001 - the report says why; the sections still run and fail clearly
        info["gpu"] = f"unavailable: {type(exc).__name__}: {exc}"[:300]
    info["tf32"] = (f"off on both sides (CUPY_TF32={os.environ.get('CUPY_TF32', 'unset')}; "
                    "torch allow_tf32 False for matmul and cuDNN)")
    return info


def write(out: Path, results: dict, started: float) -> None:
    results["elapsed_s"] = round(time.monotonic() - started)
    results["files"] = [f for f in OUT_FILES if f in (REPORT, RESULTS) or (out / f).exists()]
    (out / RESULTS).write_text(json.dumps(results, indent=2, default=str))
    (out / REPORT).write_text(report(results))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.environ.get("OUT") or "runs/gpu-bench")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {', '.join(SECTIONS)} (they run in that order)")
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S,
                        help=f"wall-clock seconds for the whole run (default {DEFAULT_BUDGET_S})")
    parser.add_argument("--dry-run", action="store_true",
                        help="rehearse every section on the CPU at tiny sizes (MINICNN_DEVICE=cpu)")
    args = parser.parse_args(argv)
    chosen = {s for s in args.only.split(",") if s}
    if chosen - set(SECTIONS):
        parser.error(f"unknown sections {sorted(chosen - set(SECTIONS))}; choose from {', '.join(SECTIONS)}")
    started = time.monotonic()
    budget = Budget.of(args.budget_s - REPORT_RESERVE_S)
    if args.dry_run:
        os.environ["MINICNN_DEVICE"] = "cpu"
    device = "cpu" if args.dry_run else "gpu"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUT_FILES:  # an earlier run's files would pass for this run's
        (out / name).unlink(missing_ok=True)
    results = {"command": "python -m benchmarks.gpu " + " ".join(sys.argv[1:] if argv is None else argv),
               "dry_run": args.dry_run, "budget_s": args.budget_s, "order": [s for s in SECTIONS if s in chosen],
               "environment": environment(device)}
    run = Run(out, REHEARSAL_SIZES if args.dry_run else GPU_SIZES, device, results)
    for name in results["order"]:
        need, cap, runner = SECTIONS[name]
        if budget.allows(need):
            print(f"[benchmarks.gpu] {name} ({budget.left():.0f} s left) ...", flush=True)
            section_start = time.monotonic()
            results[name] = {**runner(run, budget.within(cap)), "section_s": round(time.monotonic() - section_start)}
        else:
            results[name] = skipped(need, budget)
        write(out, results, started)
    write(out, results, started)
    print(report(results))
    return 1 if any(results.get(n, {}).get("status") == "failed" for n in ("tests", "parity")) else 0


if __name__ == "__main__":
    sys.exit(main())
