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
* for a mid-epoch stop, the epoch's running means (loss and metric sums and
  counts), so the resumed epoch reports the loss and accuracy of the whole
  epoch, not only of the batches after the stop;
* anything else the caller wants back (``extra``: e.g. the history so far).

It is one ``.npz`` file (arrays plus a JSON header), written atomically: a
crash while saving leaves the previous checkpoint intact, never half a file.
Restoring is all-or-nothing: every entry is read and checked first, and only
then is anything assigned (``restore_checkpoint``). Continuing a run inside
``fit`` is ``resume.py``.
"""
from __future__ import annotations

import json
import os

import numpy as np

from .. import backend
from .. import random as _random
from ..atomic_files import atomic_path
from ..models.weight_values import WeightsFileError, checked_value

FORMAT = "minicnn-checkpoint-1"


class CheckpointError(WeightsFileError):
    """A checkpoint file that cannot be restored into the model as it is; the
    message names the file and what is wrong, and the model is unchanged."""


def save_checkpoint(path, model, epoch, step=0, epoch_rng_state=None, extra=None) -> None:
    """Write ``model``'s complete training state to ``path`` (atomically).

    ``epoch`` counts finished epochs when ``step == 0``; with ``step > 0`` the
    run stopped after ``step`` batches of epoch ``epoch`` (0-based), and
    ``epoch_rng_state`` must be the generator state from that epoch's start.
    A mid-epoch checkpoint also keeps ``model.metrics``' running sums.
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
    if step:
        header["running_metrics"] = [m.name for m in model.metrics]
        for i, metric in enumerate(model.metrics):
            for name in running_state_names(metric):
                arrays[f"metric/{i}/{name}"] = np.asarray(backend.to_numpy(getattr(metric, name)))
    arrays["header"] = np.array(json.dumps(header))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def read_checkpoint(path) -> tuple[dict, dict]:
    """``(header, arrays)`` of a checkpoint file; a :class:`CheckpointError` if it is not one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(str(arrays.pop("header")))
    except Exception as exc:  # noqa: BLE001 - any damage means: not a usable checkpoint
        raise CheckpointError(f"{path} is not a readable minicnn checkpoint ({type(exc).__name__}: {exc}). "
                              "Nothing was changed.") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else header
        raise CheckpointError(f"{path}: unknown checkpoint format {found!r} (expected {FORMAT}). "
                              "Nothing was changed.")
    return header, arrays


def restore_checkpoint(path, model, restore_rng=True, allow_nonfinite=False) -> dict:
    """Load weights, optimizer state and (optionally) the RNG state into ``model``.

    Everything is read and checked before anything changes: every weight and
    optimizer slot (present, the weight's shape, real numbers, finite unless
    ``allow_nonfinite``), the step counter, the learning rate, both RNG states
    and the running metric sums. On any fault a :class:`CheckpointError`
    names the file and the entry, and the model, its optimizer and the RNG are
    untouched. Returns the header (``epoch``, ``step``, ``epoch_rng_state``,
    ``extra``; with ``running_metric_state`` for a mid-epoch stop).
    """
    path = os.fspath(path)
    header, arrays = read_checkpoint(path)
    plan = _Plan(path, header, arrays, model, allow_nonfinite)
    for w, value in zip(model.weights, plan.weights):
        w.assign(value)
    if plan.slots is not None:
        model.optimizer.set_slots_for(model.trainable_weights, plan.slots, header["optimizer"]["iterations"])
        if header["optimizer"]["learning_rate"] is not None:
            model.optimizer.learning_rate = header["optimizer"]["learning_rate"]
    if restore_rng:
        _random.set_state(header["rng_state"])
    header.setdefault("extra", {})
    if plan.metric_state is not None:
        header["running_metric_state"] = plan.metric_state
    return header


def running_state_names(metric) -> list[str]:
    """The attributes that hold a metric's running sums: those its ``reset_state``
    sets (``total`` and ``count``; Precision's ``tp``, ``fp``, ``fn``, ``tn``),
    found by running it on a blank instance. A metric whose ``reset_state``
    needs its settings has none found, and a resumed epoch counts it afresh."""
    blank = object.__new__(type(metric))
    try:
        blank.reset_state()
    except Exception:  # noqa: BLE001 - a reset that needs the metric's settings: no sums found
        return []
    return sorted(vars(blank))


def set_running_metrics(model, states) -> None:
    """Put a mid-epoch checkpoint's running sums (``header['running_metric_state']``) back into ``model.metrics``."""
    for metric, state in zip(model.metrics, states):
        for name, value in state.items():
            setattr(metric, name, value[()] if value.ndim == 0 else backend.to_device(value))


class _Plan:
    """A checkpoint's contents, each checked against ``model``: ``weights``,
    ``slots`` (None without optimizer state) and ``metric_state`` (None at an
    epoch's end). Building one raises :class:`CheckpointError` on any fault."""

    def __init__(self, path, header, arrays, model, allow_nonfinite):
        self.path, self.header, self.arrays, self.model = path, header, arrays, model
        self.allow_nonfinite = allow_nonfinite
        self.used = set()
        self._check_position()
        self.weights = self._weights()
        self.slots = self._slots()
        self.metric_state = self._metric_state()
        self._check_rng_state("rng_state")
        if header["step"] or header.get("epoch_rng_state") is not None:
            self._check_rng_state("epoch_rng_state")
        if not isinstance(header.get("extra", {}), dict):
            self._fail(f"'extra' is {type(header['extra']).__name__}, not a dict")
        unknown = sorted(set(arrays) - self.used)
        if unknown:
            self._fail(f"unexpected entries {unknown[:5]} (this model has {len(model.weights)} weights)")

    def _fail(self, what):
        raise CheckpointError(f"Checkpoint {self.path}: {what}. Nothing was changed.")

    def _array(self, key):
        if key not in self.arrays:
            self._fail(f"entry '{key}' is missing")
        self.used.add(key)
        return self.arrays[key]

    def _checked(self, key, weight, kind):
        """The array at ``key``, checked and cast for ``weight`` (``weight_values.checked_value``)."""
        try:
            return checked_value(self._array(key), weight, f"Checkpoint {self.path}, {kind} '{key}'",
                                 self.allow_nonfinite)
        except CheckpointError:
            raise
        except WeightsFileError as exc:
            raise CheckpointError(str(exc)) from None

    def _check_position(self):
        for key in ("epoch", "step"):
            value = self.header.get(key)
            if type(value) is not int or value < 0:
                self._fail(f"'{key}' is {value!r}, not a count")

    def _weights(self):
        stored, weights = self.header.get("weights"), self.model.weights
        if not isinstance(stored, list) or len(stored) != len(weights):
            count = len(stored) if isinstance(stored, list) else stored
            self._fail(f"holds {count} weights but model '{self.model.name}' has {len(weights)}")
        return [self._checked(f"weight/{i}", w, "entry") for i, w in enumerate(weights)]

    def _slots(self):
        state, opt = self.header.get("optimizer"), self.model.optimizer
        if state is None:
            return None
        if opt is None:
            self._fail("holds optimizer state; compile() the model before restoring it")
        if not isinstance(state, dict):
            self._fail(f"'optimizer' is {state!r}, not the optimizer's state")
        if type(state.get("iterations")) is not int or state["iterations"] < 0:
            self._fail(f"the optimizer's step counter is {state.get('iterations')!r}, not a count")
        lr = state.get("learning_rate")
        if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 <= lr < np.inf):
            self._fail(f"the learning rate is {lr!r}, not a number >= 0")
        expected = set(opt.create_slots(np.zeros(1, backend.floatx())))
        slots = []
        for i, w in enumerate(self.model.trainable_weights):
            names = {key.split("/", 2)[2] for key in self.arrays if key.startswith(f"slot/{i}/")}
            if names and names != expected:
                self._fail(f"weight {i} ('{w.name}') has optimizer slots {sorted(names)}, but "
                           f"{type(opt).__name__} keeps {sorted(expected)} (saved by '{state.get('name')}')")
            slots.append({name: backend.to_device(self._checked(f"slot/{i}/{name}", w, "optimizer slot"))
                          for name in sorted(names)})
        return slots

    def _metric_state(self):
        names = self.header.get("running_metrics")
        if names is None:
            return None
        metrics = self.model.metrics
        if names != [m.name for m in metrics]:
            self._fail(f"running metrics {names!r} differ from the model's {[m.name for m in metrics]}")
        states = []
        for i, metric in enumerate(metrics):
            state = {}
            for name in running_state_names(metric):
                key = f"metric/{i}/{name}"
                if key in self.arrays:
                    value = self._array(key)
                    if value.dtype.kind not in "iuf" or not np.isfinite(value).all():
                        self._fail(f"entry '{key}' is {value.dtype} {value.ravel()[:3]}, not a finite sum")
                    state[name] = value
            states.append(state)
        return states

    def _check_rng_state(self, key):
        probe = np.random.Generator(type(_random.generator().bit_generator)())
        try:
            probe.bit_generator.state = self.header.get(key)
        except Exception as exc:  # noqa: BLE001 - whatever NumPy objects to, the state is unusable
            self._fail(f"'{key}' is not a valid random generator state ({type(exc).__name__}: {exc})")
