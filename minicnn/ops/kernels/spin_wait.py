"""Waiting for another thread without going to sleep: counters read in a loop, outside the GIL.

``threads.over_batch`` hands one part of a batch to a kernel thread and waits
for it, dozens of times per step. Handing over through a blocking queue puts
the waiting thread to sleep; waking it again (the operating system, and on a
virtual machine the hypervisor, has to schedule it back onto its core) takes
longer than many of a small network's kernels. So both sides first watch a
counter instead, for a bounded number of reads, and only then block:

* the caller bumps a worker's ``posted`` counter after queueing a job; the
  worker, spinning in ``wait_for_change``, sees it at once;
* the worker bumps its ``done`` counter after putting its result; the
  caller, spinning likewise, sees that.

The counters are hints only: the job and its result still travel through the
queues, so a spin that gives up (or sees another caller's job) just falls back
to the blocking ``get``. The loops are compiled with ``nogil=True``, so while
one thread spins the other can hold the GIL and run Python.

A compiled loop that reads an array element which nothing in the loop writes
may legally read it once and never again; the reads and writes here are
atomic (``acquire``/``release``) so that each pass reads memory, and so that
whatever was written before a counter was bumped is seen by whoever sees the
new count.
"""
from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

# How many times a waiting thread reads its counter before it blocks: long
# enough to bridge the Python between two layers' kernels, short enough that
# a thread with no more work soon stops using its core.
SPIN_READS = 1 << 20


@intrinsic
def _load_acquire(typingctx, counter):
    """counter[0], read from memory on every call (an atomic acquire load)."""
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.load_atomic(array.data, "acquire", 8)
    return types.int64(counter), codegen


@intrinsic
def _store_release(typingctx, counter, value):
    """counter[0] = value, visible with everything written before it (an atomic release store)."""
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        builder.store_atomic(args[1], array.data, "release", 8)
        return context.get_dummy_value()
    return types.void(counter, value), codegen


@njit(nogil=True, cache=True)
def wait_for_change(counter, seen, reads):
    """Read counter[0] up to ``reads`` times, outside the GIL; True as soon as it is not ``seen``."""
    for _ in range(reads):
        if _load_acquire(counter) != seen:
            return True
    return False


@njit(nogil=True, cache=True)
def bump_then_wait(bumped, watched, seen, reads):
    """bumped[0] += 1 (only this thread writes it), then ``wait_for_change(watched, seen, reads)``,
    all outside the GIL: a thread that has just signalled never holds the GIL
    the thread it woke is about to take."""
    _store_release(bumped, _load_acquire(bumped) + 1)
    return wait_for_change(watched, seen, reads)


def counter() -> np.ndarray:
    """A new counter: one int64, 0."""
    return np.zeros(1, np.int64)
