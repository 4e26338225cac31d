"""Callbacks that watch the logs and steer training: EarlyStopping,
ReduceLROnPlateau, TerminateOnNaN, LearningRateScheduler (and ``Monitor``,
what the ones watching a metric share with ``ModelCheckpoint``)."""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..backend import get_array_module
from .base import Callback

# On the GPU, reading a loss into Python waits for the device to finish the
# step: fit and TerminateOnNaN look at it every this many batches there (on the
# CPU, after every batch).
GPU_NAN_CHECK_EVERY = 50


def _monitor_mode(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return mode


class Monitor(Callback):
    """Shared logic: watch ``monitor`` and tell whether it improved."""

    def __init__(self, monitor, mode, min_delta=0.0):
        super().__init__()
        self.monitor = monitor
        self.mode = _monitor_mode(monitor, mode)
        self.min_delta = abs(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def _current(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__}: metric '{self.monitor}' is not in the logs "
                          f"(available: {sorted((logs or {}).keys())})", stacklevel=3)
        return value

    def _improved(self, value) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        if self.baseline is not None:
            self.best = self.baseline
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        value = self._current(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        if factor >= 1.0:
            raise ValueError("ReduceLROnPlateau: factor must be < 1")
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self.wait = self.cooldown_counter = 0

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:  # as Keras 3: the rate this epoch ran with, so History records it
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        value = self._current(logs)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = self.model.optimizer.learning_rate
                new = max(old * self.factor, self.min_lr)
                if old > new:
                    self.model.optimizer.learning_rate = new
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


def batch_loss_is_finite(logs) -> bool:
    """False when a batch's logs show a NaN or infinite loss.

    ``fit`` hands over the last batch's loss as ``logs.batch_loss``; with plain
    dict logs the running ``loss`` is checked (a NaN batch makes it NaN too).
    """
    loss = getattr(logs, "batch_loss", None)
    if loss is None:
        loss = (logs or {}).get("loss")
    return loss is None or bool(np.isfinite(float(loss)))


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite.

    As Keras, it sets ``model.stop_training`` after the batch. Unlike Keras,
    ``fit`` then leaves that epoch unfinished: no validation, and no callback's
    ``on_epoch_end`` (Keras runs them all, so a ``ModelCheckpoint`` would
    overwrite the last good file with the broken weights); ``History`` still
    records the epoch's NaN loss, and ``model.unfinished_epoch`` says where
    training stopped (``fit``'s docstring). On the GPU it looks at every
    ``GPU_NAN_CHECK_EVERY``-th batch only, so that a step never waits for the
    device just to be checked.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = getattr(logs, "batch_loss", None)
        on_gpu = loss is not None and get_array_module(loss) is not np
        if on_gpu and batch % GPU_NAN_CHECK_EVERY:
            return  # fit's own check stops a NaN run the same way (models/training.py)
        if not batch_loss_is_finite(logs):
            print(f"Batch {batch}: invalid loss, terminating training")
            self.model.stop_training = True


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch start from ``schedule(epoch, lr)``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.schedule(epoch, self.model.optimizer.learning_rate))
        if not math.isfinite(lr):
            raise ValueError(f"LearningRateScheduler: schedule returned {lr} at epoch {epoch}")
        self.model.optimizer.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate
