"""The spin-then-block handover between ``threads.over_batch`` and its kernel threads (``spin_wait``).

The counters are hints: with spinning cut to nothing every handover blocks, and
the results must be the same either way, in part order, from every part.
"""
import threading
import time

import numpy as np
import pytest

from minicnn.ops.kernels import spin_wait, threads


def test_a_spinning_thread_sees_a_counter_another_thread_sets():
    counter, seen = spin_wait.counter(), []
    watcher = threading.Thread(target=lambda: seen.append(spin_wait.wait_for_change(counter, 0, 1 << 62)))
    watcher.start()
    time.sleep(0.01)  # the watcher is spinning outside the GIL, or this line could not run
    counter[0] = 7
    watcher.join(timeout=10)
    assert seen == [True]


def test_a_spin_gives_up_after_its_reads():
    assert spin_wait.wait_for_change(spin_wait.counter(), 0, 1000) is False
    counter = spin_wait.counter()
    counter[0] = 3
    assert spin_wait.wait_for_change(counter, 0, 0) is False  # no read at all
    assert spin_wait.wait_for_change(counter, 0, 1) is True


def test_bump_then_wait_bumps_first():
    bumped, watched = spin_wait.counter(), spin_wait.counter()
    assert spin_wait.bump_then_wait(bumped, watched, 0, 100) is False
    assert spin_wait.bump_then_wait(bumped, watched, 5, 100) is True
    assert bumped[0] == 2


@pytest.mark.parametrize("reads", [0, spin_wait.SPIN_READS])
def test_over_batch_returns_every_part_in_order_whether_it_spins_or_blocks(monkeypatch, reads):
    monkeypatch.setattr(spin_wait, "SPIN_READS", reads)
    monkeypatch.setenv("MINICNN_THREADS", "3")
    out = np.zeros(30)

    def work(lo, hi):
        out[lo:hi] = np.arange(lo, hi)
        return (lo, hi)

    for size in range(3, 30, 3):
        out[:] = -1
        assert threads.over_batch(work, size, threads.SMALL) == threads.partition(size, 3)
        assert np.array_equal(out[:size], np.arange(size))
    workers = threads._workers(2)
    assert all(w.done[0] <= w.posted[0] for w in workers)
