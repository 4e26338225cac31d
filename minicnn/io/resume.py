"""Continuing a run inside ``fit``: from an epoch's end, or from the middle of one.

``ResumableBatches`` replays an interrupted epoch's shuffle and skips what was
already trained on; ``TrainingCheckpoint`` writes a checkpoint
(``checkpoint.py``) after every epoch and, on Ctrl-C (``graceful_interrupt``),
after the current batch; on resume it puts the epoch's running loss and metric
sums back, so the resumed run reports the same history as one never stopped.
"""
from __future__ import annotations

import contextlib
import signal
import threading

from .. import random as _random
from ..callbacks import Callback, batch_loss_is_finite
from .checkpoint import save_checkpoint, set_running_metrics


class ResumableBatches:
    """A batch source for ``fit`` that can restart in the middle of an epoch.

    It wraps another batch source (e.g. ``ArrayBatches(x, y, 128, shuffle=True)``)
    and remembers, for the epoch in progress, the generator state it started
    from. After ``resume_at(header)`` the next epoch replays the interrupted
    one: the start state is restored (so the same shuffle order is drawn), the
    ``skipped`` batches already trained on are passed over, and the generator
    continues from the state saved at the stop. ``pending`` is that header
    until the replay starts.
    """

    def __init__(self, batches):
        self.batches = batches
        self.epoch_rng_state = None
        self.skipped = 0
        self.pending = None

    def __len__(self):
        return len(self.batches)

    def resume_at(self, header) -> None:
        if header["step"]:
            self.pending = header

    def __iter__(self):
        pending, self.pending = self.pending, None
        if pending is not None:
            _random.set_state(pending["epoch_rng_state"])
        self.epoch_rng_state = _random.get_state()
        self.skipped = 0 if pending is None else pending["step"]
        it = iter(self.batches)
        for _ in range(self.skipped):
            next(it)
        if pending is not None:
            _random.set_state(pending["rng_state"])
        yield from it


class TrainingCheckpoint(Callback):
    """Save a complete checkpoint after every epoch, and on a requested stop.

    ``stop_requested()`` is polled after each batch (the CLI sets it from
    Ctrl-C): the checkpoint then records the step inside the epoch and the
    epoch's running sums, training stops cleanly with the epoch unfinished
    (``model.unfinished_epoch``: no validation, no ``on_epoch_end``; the
    resumed run finishes it), and ``interrupted`` becomes True. A batch whose
    loss is NaN is never saved: ``fit`` stops on it and the previous
    checkpoint stays. ``extra()`` returns what to store besides the training
    state (e.g. the history so far). When ``batches`` resumes a mid-epoch
    stop, the epoch's running sums are put back as it begins.
    """

    def __init__(self, path, batches: ResumableBatches, extra=None, stop_requested=None):
        super().__init__()
        self.path, self.batches = path, batches
        self.extra = extra or (lambda: {})
        self.stop_requested = stop_requested or (lambda: False)
        self.interrupted = False

    def on_train_batch_end(self, batch, logs=None):
        if self.interrupted or not self.stop_requested():
            return
        self.model.stop_training = True
        if not batch_loss_is_finite(logs):
            return  # fit records the NaN stop; the last good checkpoint stays
        self.interrupted = True
        # batches trained in this epoch: counted from fit's batch index, not from what the source has handed
        # out (on the GPU the next batch is already being copied to the device)
        step = self.batches.skipped + batch + 1
        self.model.unfinished_epoch = {"reason": "interrupted", "epoch": self._epoch, "batch": step - 1}
        save_checkpoint(self.path, self.model, epoch=self._epoch, step=step,
                        epoch_rng_state=self.batches.epoch_rng_state, extra=self.extra())

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        pending = self.batches.pending
        if pending is not None and "running_metric_state" in pending:
            set_running_metrics(self.model, pending["running_metric_state"])

    def on_epoch_end(self, epoch, logs=None):
        save_checkpoint(self.path, self.model, epoch=epoch + 1, extra=self.extra())


@contextlib.contextmanager
def graceful_interrupt():
    """Turn the first Ctrl-C into a request (``flag()`` becomes True) instead of
    an exception at an arbitrary line; a second Ctrl-C interrupts at once."""
    requested = [False]

    def handler(signum, frame):
        if requested[0]:
            raise KeyboardInterrupt
        requested[0] = True
        print("\nCtrl-C: finishing this batch, saving a checkpoint (press again to abort)", flush=True)

    if threading.current_thread() is not threading.main_thread():
        yield lambda: requested[0]
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: requested[0]
    finally:
        signal.signal(signal.SIGINT, previous)
