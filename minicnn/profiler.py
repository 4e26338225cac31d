"""An op-level profiler: where does a training step spend its time?

Set ``MINICNN_PROFILE=1`` (or call ``profiler.enable()``) and every
``Function`` forward and backward is timed, grouped by class. When the process
exits (or when you call ``profiler.report()``) a table like this is printed::

    op (Function.phase)               calls   total ms   ms/step  share
    Conv2DFunction.backward              30     1234.5     411.5  38.1%
    ...

Reading it is the first step of any speed work: optimise what the table says
is slow, not what you guess is slow. ``region(name)`` times any other block
(``benchmarks/profile_step.py`` uses it for the optimizer update).

How it hooks in: ``Function.__call__`` and ``Tensor.backward`` test the one
flag ``profiler.active``; while it is False they run exactly as before, so the
profiler costs nothing when it is off. This module imports nothing from
minicnn, so every layer of the engine may use it.

On a GPU, kernels run asynchronously; the timer waits for the device
(``synchronize``) around each op, so the numbers are real but the run is
slower than an unprofiled one.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import sys
import time
from collections import defaultdict

active = False
_totals: dict[str, list] = defaultdict(lambda: [0, 0.0])  # name -> [calls, seconds]
_steps = 0
_sync = None  # callable that waits for the GPU, set when CuPy arrays are seen


def enable() -> None:
    """Start recording (and print the table when the process exits)."""
    global active
    if not active:
        atexit.register(_report_at_exit)
    active = True


def disable() -> None:
    global active
    active = False


def reset() -> None:
    """Forget everything recorded so far."""
    global _steps
    _totals.clear()
    _steps = 0


def count_step() -> None:
    """Called once per ``Tensor.backward`` from a loss: one training step."""
    global _steps
    _steps += 1


def _synchronize(arrays) -> None:
    global _sync
    if _sync is None:
        module = type(arrays[0]).__module__ if arrays else ""
        if module.startswith("cupy"):
            import cupy  # noqa: PLC0415 - only when profiling GPU arrays

            _sync = cupy.cuda.get_current_stream().synchronize
        else:
            _sync = False
    if _sync:
        _sync()


def timed(fn, phase: str, method, arrays):
    """Run ``method(*arrays)`` (a Function's forward or backward) and record its time."""
    _synchronize(arrays)
    start = time.perf_counter()
    result = method(*arrays)
    _synchronize(arrays)
    entry = _totals[f"{type(fn).__name__}.{phase}"]
    entry[0] += 1
    entry[1] += time.perf_counter() - start
    return result


@contextlib.contextmanager
def region(name: str):
    """Time a block of code under ``name`` (only while the profiler is active)."""
    if not active:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        entry = _totals[name]
        entry[0] += 1
        entry[1] += time.perf_counter() - start


def results() -> dict[str, dict]:
    """Recorded totals: ``{name: {"calls", "total_ms", "ms_per_step"}}``."""
    steps = max(_steps, 1)
    return {name: {"calls": calls, "total_ms": 1e3 * secs, "ms_per_step": 1e3 * secs / steps}
            for name, (calls, secs) in _totals.items()}


def report(file=None) -> str:
    """The table of recorded times, slowest first; printed to ``file`` if given."""
    rows = sorted(results().items(), key=lambda kv: -kv[1]["total_ms"])
    grand = sum(r["total_ms"] for _, r in rows) or 1.0
    lines = [f"minicnn profile: {_steps} step(s)",
             f"{'op (Function.phase)':<40}{'calls':>7}{'total ms':>11}{'ms/step':>10}{'share':>8}"]
    for name, r in rows:
        lines.append(f"{name:<40}{r['calls']:>7}{r['total_ms']:>11.1f}{r['ms_per_step']:>10.2f}"
                     f"{100 * r['total_ms'] / grand:>7.1f}%")
    lines.append(f"{'total':<40}{'':>7}{grand:>11.1f}{grand / max(_steps, 1):>10.2f}")
    text = "\n".join(lines)
    if file is not None:
        print(text, file=file)
    return text


def _report_at_exit() -> None:
    if active and _totals:
        report(file=sys.stderr)


if os.environ.get("MINICNN_PROFILE", "0") not in ("", "0"):
    enable()
