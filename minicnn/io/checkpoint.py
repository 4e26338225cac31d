"""Training checkpoints: everything needed to continue a run exactly.

A ``.weights.h5`` file holds the weights only. To *resume* training so that it
ends with the same numbers as a run that was never stopped, more is needed:

* every weight (trainable or not), in the model's order;
* the optimizer's state: its step counter (Adam's bias correction depends on
  it), learning rate, and per-weight slots (Adam's moving averages m and v);
* where training stood: the epoch, and, for a mid-epoch stop, the step;
* the random generator's state, so the next epoch's shuffle (and dropout,
  augmentation) draws the same numbers. For a mid-epoch stop also the state at
  the start of that epoch, from which its shuffle order is recomputed;
* anything else the caller wants back (``extra``: e.g. the history so far).

It is one ``.npz`` file (arrays plus a JSON header), written atomically: a
crash while saving leaves the previous checkpoint intact, never half a file.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import threading

import numpy as np

from .. import backend
from .. import random as _random
from ..callbacks import Callback
from ..atomic_files import atomic_path

FORMAT = "minicnn-checkpoint-1"


def save_checkpoint(path, model, epoch, step=0, epoch_rng_state=None, extra=None) -> None:
    """Write ``model``'s complete training state to ``path`` (atomically).

    ``epoch`` counts finished epochs when ``step == 0``; with ``step > 0`` the
    run stopped after ``step`` batches of epoch ``epoch`` (0-based), and
    ``epoch_rng_state`` must be the generator state from that epoch's start.
    """
    if step and epoch_rng_state is None:
        raise ValueError("save_checkpoint: a mid-epoch checkpoint (step > 0) needs epoch_rng_state")
    arrays = {f"weight/{i}": w.numpy() for i, w in enumerate(model.weights)}
    opt = model.optimizer
    slots = opt.slots_for(model.trainable_weights) if opt is not None else []
    for i, slot in enumerate(slots):
        for name, value in slot.items():
            arrays[f"slot/{i}/{name}"] = backend.to_numpy(value)
    lr = None if opt is None or callable(opt._learning_rate) else opt.learning_rate
    header = {
        "format": FORMAT, "epoch": int(epoch), "step": int(step),
        "weights": [[w.name, list(w.shape)] for w in model.weights],
        "optimizer": None if opt is None else {"name": opt.name, "iterations": opt.iterations,
                                                "learning_rate": lr},
        "rng_state": _random.get_state(), "epoch_rng_state": epoch_rng_state,
        "extra": extra or {},
    }
    arrays["header"] = np.array(json.dumps(header))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def read_checkpoint(path) -> tuple[dict, dict]:
    """``(header, arrays)`` of a checkpoint file; a clear error if it is not one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(str(arrays.pop("header")))
    except Exception as exc:  # noqa: BLE001 - any damage means: not a usable checkpoint
        raise ValueError(f"{path} is not a readable minicnn checkpoint ({type(exc).__name__}: {exc})") from None
    if header.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown checkpoint format {header.get('format')!r} (expected {FORMAT})")
    return header, arrays


def restore_checkpoint(path, model, restore_rng=True) -> dict:
    """Load weights, optimizer state and (optionally) the RNG state into ``model``.

    Everything is checked before anything changes. Returns the header
    (``epoch``, ``step``, ``epoch_rng_state``, ``extra``).
    """
    header, arrays = read_checkpoint(path)
    weights = model.weights
    stored = header["weights"]
    if len(stored) != len(weights):
        raise ValueError(f"Checkpoint {path} holds {len(stored)} weights but model '{model.name}' has "
                         f"{len(weights)}. Nothing was changed.")
    for i, (w, (name, shape)) in enumerate(zip(weights, stored)):
        if tuple(shape) != tuple(w.shape):
            raise ValueError(f"Checkpoint {path}: weight {i} ('{name}') has shape {tuple(shape)} but the "
                             f"model's '{w.name}' has shape {tuple(w.shape)}. Nothing was changed.")
    opt_state = header["optimizer"]
    if opt_state is not None and model.optimizer is None:
        raise ValueError(f"Checkpoint {path} has optimizer state; compile() the model before restoring it.")
    for i, w in enumerate(weights):
        w.assign(arrays[f"weight/{i}"])
    if opt_state is not None:
        trainable = model.trainable_weights
        slots = [{} for _ in trainable]
        for key, value in arrays.items():
            if key.startswith("slot/"):
                _, index, name = key.split("/", 2)
                slots[int(index)][name] = backend.to_device(value)
        model.optimizer.set_slots_for(trainable, slots, opt_state["iterations"])
        if opt_state["learning_rate"] is not None:
            model.optimizer.learning_rate = opt_state["learning_rate"]
    if restore_rng:
        _random.set_state(header["rng_state"])
    return header


# -- resuming inside fit -------------------------------------------------------------
class ResumableBatches:
    """A batch source for ``fit`` that can restart in the middle of an epoch.

    It wraps another batch source (e.g. ``ArrayBatches(x, y, 128, shuffle=True)``)
    and remembers, for the epoch in progress, the generator state it started
    from and how many batches it has handed out. After ``resume_at(header)``
    the next epoch replays the interrupted one: the start state is restored (so
    the same shuffle order is drawn), the batches already trained on are
    skipped, and the generator continues from the state saved at the stop.
    """

    def __init__(self, batches):
        self.batches = batches
        self.epoch_rng_state = None
        self.steps_done = 0
        self._pending = None

    def __len__(self):
        return len(self.batches)

    def resume_at(self, header) -> None:
        if header["step"]:
            self._pending = header

    def __iter__(self):
        pending, self._pending = self._pending, None
        if pending is not None:
            _random.set_state(pending["epoch_rng_state"])
        self.epoch_rng_state = _random.get_state()
        self.steps_done = 0
        it = iter(self.batches)
        if pending is not None:
            for _ in range(pending["step"]):
                next(it)
                self.steps_done += 1
            _random.set_state(pending["rng_state"])
        for batch in it:
            self.steps_done += 1
            yield batch


class TrainingCheckpoint(Callback):
    """Save a complete checkpoint after every epoch, and on a requested stop.

    ``stop_requested()`` is polled after each batch (the CLI sets it from
    Ctrl-C): the checkpoint then records the step inside the epoch, training
    stops cleanly, and ``interrupted`` becomes True. ``extra(epoch)`` returns
    what to store besides the training state (e.g. the history so far).
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
        self.interrupted = True
        self.model.stop_training = True
        save_checkpoint(self.path, self.model, epoch=self._epoch, step=self.batches.steps_done,
                        epoch_rng_state=self.batches.epoch_rng_state, extra=self.extra())

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if not self.interrupted:
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
