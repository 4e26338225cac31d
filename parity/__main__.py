"""``python -m parity``: run every parity row, print the table, write parity/REPORT.md.

Exits 0 when every row agrees with Keras, 1 when one disagrees, 2 when
TensorFlow/Keras are not installed. The rows are the same objects that
``pytest parity`` runs (each test module's ``ROWS``).
"""
from __future__ import annotations

import importlib
import pathlib
import platform
import sys
import time

from .harness import TOLERANCE, TensorFlowMissing, keras_modules

MODULES = ("test_layers", "test_stochastic_layers", "test_losses_metrics", "test_optimizers", "test_optimizer_options",
           "test_models", "test_float32_training", "test_summary", "test_weights_interchange", "test_layers_transfer",
           "test_keras_files")
REPORT = pathlib.Path(__file__).with_name("REPORT.md")


def run_all():
    """[(row, stats or None, failure message or None)] for every row of every module."""
    results = []
    for module in MODULES:
        for row in importlib.import_module(f"{__package__}.{module}").ROWS:
            try:
                stats, failure = row.run(), None
            except AssertionError as exc:
                stats, failure = getattr(exc, "stats", None), str(exc).splitlines()[0]
            except Exception as exc:  # a crash is a failure too, reported with its type
                stats, failure = None, f"{type(exc).__name__}: {exc}".splitlines()[0]
            results.append((row, stats, failure))
            print(_line(row, stats, failure), flush=True)
    return results


NOT_COMPARED = "—"


def _cells(stats):
    """(cases, compares, worst forward, worst gradient/step) as the table prints them."""
    if stats is None:  # the row crashed before it could say
        return (NOT_COMPARED,) * 4
    return (str(stats.cases), stats.compares,
            *(NOT_COMPARED if err is None else f"{err:.2e}" for err in (stats.worst_forward, stats.worst_grad)))


def _result(stats, failure):
    notes = "" if stats is None else "; ".join(
        [*stats.notes, *(f"{name} {value:.3g}" for name, value in stats.figures.items())])
    result = f"FAIL: {failure}" if failure else "pass"
    return f"{result} ({notes})" if notes else result


def _line(row, stats, failure):
    cases, compares, fwd, grad = _cells(stats)
    return (f"{row.section:<12} {row.name:<50} {cases:>5} {compares:<22} {fwd:>10} {grad:>10}  "
            f"{_result(stats, failure)}")


def markdown(results, seconds, versions) -> str:
    out = [
        "# minicnn vs Keras: parity report",
        "",
        f"Written by `python -m parity` in {seconds:.0f} s ({versions}).",
        "",
        "Error measure: `max|minicnn - keras| / max(max|keras|, tiny)` per compared array; the worst over all",
        "cases of a row. Forward = outputs, losses, predictions, loss histories; gradient/step = gradients with",
        "respect to inputs and weights, optimizer trajectories, trained weights. \"—\" = nothing of that kind",
        "was compared in the row.",
        "Compares: `fwd` forward values, `grad` gradients, `steps` optimizer or training steps, `exact` shapes,",
        "parameter counts, names or summary lines that must be equal exactly.",
        "Tolerances: " + ", ".join(f"{d} {k} {v:g}" for (d, k), v in TOLERANCE.items()) + " (steps use the",
        "gradient tolerance; a row with another bound states it in its name or result).",
        "",
        "| section | row | cases | compares | worst forward error | worst gradient/step error | result |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for row, stats, failure in results:
        cells = (row.section, row.name, *_cells(stats), _result(stats, failure).replace("|", "/"))
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "Deliberate differences from Keras: [DIFFERENCES.md](DIFFERENCES.md).", ""]
    return "\n".join(out)


def main() -> int:
    try:
        keras, tf = keras_modules()
    except TensorFlowMissing as exc:
        print(f"parity: cannot run: {exc}", file=sys.stderr)
        return 2
    versions = f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python {platform.python_version()}"
    print(f"minicnn parity against {versions}")
    print(f"{'section':<12} {'row':<50} {'cases':>5} {'compares':<22} {'fwd err':>10} {'grad err':>10}  result")
    start = time.perf_counter()
    results = run_all()
    seconds = time.perf_counter() - start
    REPORT.write_text(markdown(results, seconds, versions), encoding="utf-8")
    failures = [(row, msg) for row, _, msg in results if msg]
    print(f"\n{len(results) - len(failures)}/{len(results)} rows agree with Keras ({seconds:.0f} s); "
          f"table written to {REPORT}")
    for row, msg in failures:
        print(f"DISAGREES: {row.name}: {msg}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
