"""``python -m benchmarks.gpu [--out DIR] [--only SECTIONS]``: every GPU check, one report.

Sections (default all, in this order): tests, endtoend, scaling, kernels, recipe.
Writes DIR/gpu_report.md (the tables), DIR/gpu_results.json (the numbers) and
DIR/pytest_gpu.log, DIR/recipe.log. DIR defaults to $OUT when set (the device
machine's output folder), else runs/gpu-bench.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SECTIONS = ("tests", "endtoend", "scaling", "kernels", "recipe")
FRAMEWORKS = ("minicnn", "minicnn-graph", "torch", "torch-compile")
SCALING_BATCHES = (32, 128, 512, 2048)


def _run(cmd, log=None, env=None, timeout=1800):
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    if log is not None:
        log.write_text(proc.stdout + proc.stderr)
    return proc, time.perf_counter() - start


def environment() -> dict:
    import cupy  # noqa: PLC0415

    from .kernels import peaks  # noqa: PLC0415

    name, gbs, tflops = peaks(cupy)
    info = {"gpu": name, "peak_dram_gb_s": round(gbs), "peak_fp32_tflops": round(tflops, 1),
            "cupy": cupy.__version__, "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
            "driver": cupy.cuda.runtime.driverGetVersion(),
            "tf32": f"off on both sides (CUPY_TF32={os.environ.get('CUPY_TF32', 'unset')}; "
                    "torch allow_tf32 False for matmul and cuDNN)"}
    try:
        import torch  # noqa: PLC0415

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


def run_tests(out: Path) -> dict:
    proc, seconds = _run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider",
                          "tests/test_gpu.py"], log=out / "pytest_gpu.log")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    return {"summary": lines[-1] if lines else proc.stderr[-300:], "returncode": proc.returncode,
            "seconds": round(seconds, 1)}


def measure(framework, mode, batch) -> dict:
    proc, _ = _run([sys.executable, "-m", "benchmarks.gpu.endtoend", framework, mode, str(batch)], timeout=900)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"framework": framework, "mode": mode, "batch": batch, "error": (proc.stderr or proc.stdout)[-300:]}


def run_endtoend() -> list:
    return [measure(f, mode, 128) for mode in ("train", "infer") for f in FRAMEWORKS]


def run_scaling() -> list:
    return [measure(f, "train", b) for b in SCALING_BATCHES for f in ("minicnn", "minicnn-graph", "torch")]


def run_kernels() -> list:
    from .kernels import rows  # noqa: PLC0415

    return [list(r) for r in rows()]


def run_recipe(out: Path) -> dict:
    run_dir = out / "seed-recipe"
    proc, seconds = _run([sys.executable, "-m", "minicnn", "train", "--out", str(run_dir)],
                         log=out / "recipe.log", env={"MINICNN_DEVICE": "gpu"}, timeout=3600)
    result_file = run_dir / "result.json"
    if proc.returncode != 0 or not result_file.exists():
        return {"error": (proc.stderr or proc.stdout)[-500:], "seconds": round(seconds)}
    result = json.loads(result_file.read_text())
    return {"test_accuracy": result["test_accuracy"], "train_wall_time_s": round(result["wall_time_s"]),
            "process_seconds": round(seconds)}


def _table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _img_s(r):
    return f"{r['img_s']:.0f}" if "img_s" in r else f"failed: {r.get('error', '?')}"


def report(results: dict) -> str:
    parts = [f"# minicnn on the GPU\n\ncommand: `{results['command']}`\n"]
    parts.append(_table(["setting", "value"], results["environment"].items()))
    if "tests" in results:
        parts.append(f"\n## GPU tests\n\n`{results['tests']['summary']}` ({results['tests']['seconds']} s)")
    if "endtoend" in results:
        rows = results["endtoend"]
        torch_eager = {r["mode"]: r.get("img_s") for r in rows if r["framework"] == "torch"}
        body = [(r["mode"], r["framework"], _img_s(r),
                 f"{r['img_s'] / torch_eager[r['mode']]:.2f}x" if r.get("img_s") and torch_eager.get(r["mode"])
                 else "-") for r in rows]
        parts.append("\n## End to end, seed CIFAR-10 CNN, batch 128, float32\n\n"
                     + _table(["mode", "framework", "img/s", "vs PyTorch eager"], body))
    if "scaling" in results:
        body = [(r["batch"], r["framework"], _img_s(r), f"{r['peak_mib']:.0f}" if "peak_mib" in r else "-")
                for r in results["scaling"]]
        parts.append("\n## Scaling (training)\n\n" + _table(["batch", "framework", "img/s", "peak GPU MiB"], body))
    if "kernels" in results:
        body = [(k, s, impl, f"{ms:.4f}", ach, f"{pct:.0f}%") for k, s, impl, ms, ach, pct in results["kernels"]]
        parts.append("\n## Per kernel (batch 128; 'cupy' = numba.cuda kernel, 'numpy' = reference on CuPy)\n\n"
                     + _table(["kernel", "shape", "impl", "ms", "achieved", "of peak"], body))
    if "recipe" in results:
        parts.append("\n## Seed recipe (20 epochs, real CIFAR-10)\n\n"
                     + _table(["metric", "value"], results["recipe"].items()))
    return "\n".join(parts) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__)
    parser.add_argument("--out", default=os.environ.get("OUT") or "runs/gpu-bench")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    args = parser.parse_args(argv)
    sections = [s for s in args.only.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"command": "python -m benchmarks.gpu " + " ".join(argv if argv is not None else sys.argv[1:]),
               "environment": environment()}
    runners = {"tests": lambda: run_tests(out), "endtoend": run_endtoend, "scaling": run_scaling,
               "kernels": run_kernels, "recipe": lambda: run_recipe(out)}
    for name in sections:
        print(f"[benchmarks.gpu] {name} ...", flush=True)
        results[name] = runners[name]()
        (out / "gpu_results.json").write_text(json.dumps(results, indent=2, default=str))
        (out / "gpu_report.md").write_text(report(results))
    print(report(results))
    return 0 if results.get("tests", {}).get("returncode", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
