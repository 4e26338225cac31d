"""Split a batch across the CPU cores: one part per thread, each part serial.

A training step alternates memory-bound kernels (im2col, col2im, pooling,
bias + ReLU) with GEMMs. Letting BLAS and Numba each run their own thread team
over the whole batch wastes the cores: the memory-bound kernels are short, and
whichever team is idle spins while the other works (``python -m benchmarks``
compares the two: its "numba, BLAS threads" row). So minicnn parallelises the
simplest way there is, over images:

* the batch is cut into ``threads()`` contiguous parts;
* each part runs on its own thread, start to finish: im2col, its GEMM (BLAS
  limited to one thread meanwhile), bias + activation, col2im;
* the calling thread works on the first part itself, one waiting kernel thread
  per other part takes the rest; the two sides wait for each other spinning
  first, then blocking (``spin_wait.py`` says why).

Every image is written by exactly one thread, so no locks are needed. Numba
kernels are compiled with ``nogil=True`` and NumPy's BLAS releases the GIL too,
so the parts really do run at the same time. Results that sum over the batch
(weight and bias gradients) are added up part by part, in a fixed order.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading

from . import spin_wait

# A job touching fewer values stays on one thread: handing a part to a waiting
# thread takes about as long as one core needs for a memory-bound pass over
# this many values, so below it splitting loses (``python -m benchmarks.profile_step``
# at a small batch shows the difference). Since the handover spins rather than
# sleeps (``spin_wait.py``) it costs less, but 2^16 and 2^17 gained nothing over
# this on MobileNet and MobileNetV2 steps, timed alternately in one process.
SMALL = 1 << 18

# A multiply-add of a GEMM costs about 1/16 of a value's trip through memory
# in a pass like the above (BLAS runs near the core's peak on data in cache),
# so a GEMM of rows x K x F multiply-adds counts as rows·K·F / 16 values when
# deciding whether to split (``gemm_size``): a 4x4-pixel, 256-channel 3x3
# convolution at batch 32 touches few values but is 150 million multiply-adds.
GEMM_MACS_PER_VALUE = 16

_workers_started: list[_Worker] = []
_blas = None
_inside = threading.local()
_setup_lock = threading.Lock()


def threads() -> int:
    """How many parts a batch is split into: ``MINICNN_THREADS``, by default the
    number of CPU cores this process may use."""
    value = os.environ.get("MINICNN_THREADS")
    if value is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"MINICNN_THREADS must be a positive integer, got {value!r}")
    return int(value)


def gemm_size(rows: int, k: int, f: int) -> int:
    """The ``size`` (in values, see ``over_batch``) a (rows, k) @ (k, f) GEMM counts as."""
    return rows * k * f // GEMM_MACS_PER_VALUE


def partition(n: int, parts: int) -> list[tuple[int, int]]:
    """Cut range(n) into ``parts`` contiguous (lo, hi) ranges of near-equal size."""
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


@contextlib.contextmanager
def blas_limited_to_one_thread():
    """A context in which BLAS runs on one thread while minicnn splits the
    batch across the cores itself. A training step enters it once around its
    whole forward + backward + update (``kernels.blas_on_one_thread``): a BLAS
    call on several threads anywhere in the step (a Dense layer's GEMM, say)
    would leave BLAS' workers spinning on the cores the next kernel's parts
    need. threadpoolctl finds whichever BLAS NumPy loaded, once; the previous
    setting comes back on exit. Entered again inside (``over_batch`` does, for
    kernels run outside a step) it sets nothing. ``python -m benchmarks``
    measures the cost of not doing this (its "numba, BLAS threads" row)."""
    global _blas
    if getattr(_inside, "blas_limited", False):
        yield
        return
    if _blas is None:
        from threadpoolctl import ThreadpoolController  # noqa: PLC0415 - scans the loaded libraries once

        _blas = ThreadpoolController().select(user_api="blas")
    with _blas.limit(limits=1):
        _inside.blas_limited = True
        try:
            yield
        finally:
            _inside.blas_limited = False


class _Worker:
    """A kernel thread and what it waits on: its job queue, the ``posted``
    counter callers set after queueing a job and the ``done`` counter it bumps
    after each result (``spin_wait.py``: the counters let both sides spin
    before they block)."""

    def __init__(self, index: int):
        self.jobs = queue.SimpleQueue()
        self.posted, self.done = spin_wait.counter(), spin_wait.counter()
        self._sequence = itertools.count(1)
        threading.Thread(target=self._serve, daemon=True, name=f"minicnn-kernel-{index}").start()

    def post(self, work, lo, hi, results) -> int:
        """Queue ``work(lo, hi)``; returns the ``done`` count to wait past."""
        done_before = int(self.done[0])
        self.jobs.put((work, lo, hi, results))
        self.posted[0] = next(self._sequence)
        return done_before

    def _serve(self) -> None:
        taken = 0
        while True:
            work, lo, hi, results = self.jobs.get()  # at once when the spin below saw it posted
            taken += 1
            try:
                results.put((lo, _run_marked(work, lo, hi), None))
            except BaseException as error:  # noqa: BLE001 - handed to the caller, who raises it
                results.put((lo, None, error))
            spin_wait.bump_then_wait(self.done, self.posted, taken, spin_wait.SPIN_READS)


def _workers(count: int) -> list[_Worker]:
    """``count`` kernel threads, started on first use."""
    with _setup_lock:
        while len(_workers_started) < count:
            _workers_started.append(_Worker(len(_workers_started)))
    return _workers_started[:count]


def _run_marked(work, lo, hi):
    _inside.active = True
    try:
        return work(lo, hi)
    finally:
        _inside.active = False


def over_batch(work, n: int, size: int) -> list:
    """Run ``work(lo, hi)`` on contiguous parts of range(n) in parallel and return
    the results in part order. ``size`` (how many values the job reads or
    writes, the larger count, or ``gemm_size`` of the GEMMs it runs) decides
    whether splitting is worth it. A job started from inside a part
    runs serially, so parts never wait on each other. If a part fails, the
    error is raised once every part has finished."""
    parts = partition(n, threads() if size >= SMALL else 1)
    if len(parts) == 1 or getattr(_inside, "active", False):
        return [work(0, n)]
    results = queue.SimpleQueue()
    with blas_limited_to_one_thread():
        posted = [(worker, worker.post(work, lo, hi, results))
                  for worker, (lo, hi) in zip(_workers(len(parts) - 1), parts[1:])]
        try:
            first, error = _run_marked(work, *parts[0]), None
        except BaseException as caught:  # noqa: BLE001 - raised below, after the other parts
            first, error = None, caught
        for worker, done_before in posted:  # spin first: the results are usually moments away
            spin_wait.wait_for_change(worker.done, done_before, spin_wait.SPIN_READS)
        done = {}
        for _ in parts[1:]:
            lo, value, part_error = results.get()
            done[lo] = value
            error = error or part_error
    if error is not None:
        raise error
    return [first] + [done[lo] for lo, _ in parts[1:]]


def launch(loop, n, batch_arrays, *scalars):
    """Run ``loop(*batch_arrays, *scalars)`` over the batch, split across the
    cores (``over_batch``): the way a compiled loop over images runs. Each of ``batch_arrays`` is cut at the same
    images: an array with k rows per image (cols has out_h·out_w) is cut
    every k rows, so every thread gets the rows of its own images."""
    size = max(a.size for a in batch_arrays)

    def part(lo, hi):
        loop(*(a[lo * (len(a) // n):hi * (len(a) // n)] for a in batch_arrays), *scalars)

    over_batch(part, n, size)
