"""The sections of ``python -m benchmarks.gpu``, each a function of (run, budget) -> result dict.

Every measurement runs in its own subprocess (``commands.run_python``) with
``MINICNN_DEVICE`` set (gpu, or cpu in the ``--dry-run`` rehearsal), so a crash
or a hang costs one row, not the report, and no memory pool sees another
framework's. A result dict always has a ``status``: "done", "failed", or
"skipped: budget (...)" when the seconds left could not hold it.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

from .commands import Budget, Completed, run_python

COMMANDS_LOG = "commands.log"  # every measurement subprocess, its command line and its output
PYTEST_LOG = "pytest_gpu.log"
RECIPE_LOG = "recipe.log"
RECIPE_RESULT = "recipe_result.json"  # the seed recipe's result.json (history, confusion matrix ...)
FRAMEWORKS = ("minicnn", "minicnn-graph", "torch", "torch-compile")
SCALING_FRAMEWORKS = ("minicnn", "minicnn-graph", "torch")
MEASURE_NEED_S, MEASURE_CAP_S = 10, 90  # one end-to-end measurement: start it with this many seconds left, at most
RECIPE_OVERHEAD_S = 45  # decoding the 60,000 JPEGs, imports, checkpoints and plots
RECIPE_MARGIN = 1.25


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The seed recipe as ``minicnn train`` runs it: extra arguments and the images it goes through."""

    args: tuple = ()
    epochs: int = 20
    train: int = 40_000  # CIFAR-10's 50,000 less the 20 % validation split
    validation: int = 10_000
    test: int = 10_000


@dataclasses.dataclass(frozen=True)
class Sizes:
    batch: int = 128
    images: int | None = None  # per timed end-to-end epoch (None: endtoend.py's default)
    scaling: tuple = (32, 128, 512, 2048)
    kernel_batch: int = 128
    recipe: Recipe = Recipe()


GPU_SIZES = Sizes()
# the rehearsal: every command line of the real run, at sizes a 2-core CPU runs in seconds
REHEARSAL_SIZES = Sizes(batch=16, images=64, scaling=(8, 32), kernel_batch=4,
                        recipe=Recipe(("--limit", "300", "--epochs", "1"), epochs=1, train=240, validation=60,
                                      test=300))


@dataclasses.dataclass
class Run:
    """One run of the script: where it writes, at which sizes, on which device, and what it has so far."""

    out: Path
    sizes: Sizes
    device: str
    results: dict

    def python(self, args, budget: Budget, log: str = COMMANDS_LOG, log_mode: str = "a") -> Completed:
        return run_python(args, {"MINICNN_DEVICE": self.device, "PYTHONUNBUFFERED": "1"}, budget.left(),
                          self.out / log, log_mode)


def skipped(need: float, budget: Budget, what: str = "") -> dict:
    return {"status": f"skipped: budget (needs {need:.0f} s{what}, {budget.left():.0f} s left)"}


# -- the sections ------------------------------------------------------------------------------
def run_tests(run: Run, budget: Budget) -> dict:
    """``pytest -m "gpu and not slow" tests/test_gpu.py`` (the slow test is the recipe smoke run,
    which the recipe section does in full)."""
    done = run.python(["-m", "pytest", "-m", "gpu and not slow", "-v", "-rs", "--durations=10",
                       "-p", "no:cacheprovider", "-p", "no:randomly", "tests/test_gpu.py"],
                      budget, log=PYTEST_LOG, log_mode="w")
    lines = [ln.strip(" =") for ln in done.output.splitlines() if ln.strip()]
    summary = lines[-1] if lines and not done.timed_out else done.failure()
    return {"status": "done" if done.returncode == 0 else "failed", "summary": summary,
            "returncode": done.returncode, "seconds": round(done.seconds, 1)}


def measure(run: Run, budget: Budget, framework: str, mode: str, batch: int) -> dict:
    """One end-to-end row (``endtoend.py`` in its own process)."""
    row = {"framework": framework, "mode": mode, "batch": batch}
    if not budget.allows(MEASURE_NEED_S):
        return {**row, **skipped(MEASURE_NEED_S, budget)}
    images = [] if run.sizes.images is None else [str(run.sizes.images)]
    done = run.python(["-m", "benchmarks.gpu.endtoend", framework, mode, str(batch), *images],
                      budget.within(MEASURE_CAP_S))
    return done.last_json() or {**row, "error": done.failure()}


def _rows_section(rows) -> dict:
    """"done" when every row has its figure, else how many have none (failed, not installed, skipped)."""
    missing = sum("img_s" not in r for r in rows)
    return {"status": f"partial: {missing} of {len(rows)} rows without a figure" if missing else "done", "rows": rows}


def run_endtoend(run: Run, budget: Budget) -> dict:
    return _rows_section([measure(run, budget, f, mode, run.sizes.batch)
                          for mode in ("train", "infer") for f in FRAMEWORKS])


def run_scaling(run: Run, budget: Budget) -> dict:
    return _rows_section([measure(run, budget, f, "train", b) for b in run.sizes.scaling for f in SCALING_FRAMEWORKS])


def recipe_estimate(run: Run) -> float | None:
    """Seconds the seed recipe should take, from minicnn's end-to-end img/s of this run (None without them)."""
    rows = run.results.get("endtoend", {}).get("rows", [])
    rate = {}
    for r in rows:
        if r.get("framework", "").startswith("minicnn") and r.get("img_s"):
            rate[r["mode"]] = min(rate.get(r["mode"], r["img_s"]), r["img_s"])  # the slower minicnn row
    if "train" not in rate or "infer" not in rate:
        return None
    recipe = run.sizes.recipe
    epoch = recipe.train / rate["train"] + recipe.validation / rate["infer"]
    return RECIPE_OVERHEAD_S + RECIPE_MARGIN * (recipe.epochs * epoch + 2 * recipe.test / rate["infer"])


def run_recipe(run: Run, budget: Budget) -> dict:
    """The seed recipe (``minicnn train``) on the real CIFAR-10 of ``data/``; its run folder is
    temporary (only result.json comes back, as recipe_result.json: the device returns few files)."""
    estimate = recipe_estimate(run)
    if estimate is not None and not budget.allows(estimate):
        return skipped(estimate, budget, ", estimated from the end-to-end img/s")
    with tempfile.TemporaryDirectory(prefix="minicnn-gpu-recipe-") as folder:
        done = run.python(["-m", "minicnn", "train", "--out", folder, *run.sizes.recipe.args], budget,
                          log=RECIPE_LOG, log_mode="w")
        result_file = Path(folder) / "result.json"
        if done.returncode != 0 or not result_file.exists():
            return {"status": "failed", "error": done.failure(), "seconds": round(done.seconds)}
        shutil.copyfile(result_file, run.out / RECIPE_RESULT)
    result = json.loads((run.out / RECIPE_RESULT).read_text())
    keys = ("test_accuracy", "best_val_epoch", "best_val_test_accuracy", "epochs", "train_images")
    return {"status": "done", **{k: result.get(k) for k in keys},
            "train_wall_time_s": round(result["wall_time_s"]), "process_seconds": round(done.seconds),
            "estimated_s": None if estimate is None else round(estimate)}


def run_parity(run: Run, budget: Budget) -> dict:
    """``parity_outputs.py --check``: the recorded CPU outputs recomputed on this device."""
    done = run.python(["-m", "benchmarks.gpu.parity_outputs", "--check"], budget)
    result = done.last_json()
    if result is None:
        return {"status": "failed", "error": done.failure()}
    return {"status": "done" if all(r["ok"] for r in result["rows"]) else "failed", **result}


def run_kernels(run: Run, budget: Budget) -> dict:
    done = run.python(["-m", "benchmarks.gpu.kernels", str(run.sizes.kernel_batch)], budget)
    result = done.last_json()
    if result is None:
        return {"status": "failed", "error": done.failure()}
    return {"status": "done", **result}


# Priority order (the order they run in) and, per section, the seconds it must have
# left to start and the most it may take. Why this order: see the module docstring
# of benchmarks/gpu/__main__.py.
SECTIONS = {
    "tests": (45, 150, run_tests),
    "endtoend": (30, 180, run_endtoend),
    "recipe": (60, 300, run_recipe),
    "scaling": (30, 150, run_scaling),
    "parity": (20, 90, run_parity),
    "kernels": (20, 90, run_kernels),
}
