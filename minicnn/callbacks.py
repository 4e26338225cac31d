"""Callbacks: code that ``fit`` runs at the start/end of training, epochs and batches.

The same hooks and names as Keras (``on_epoch_end(epoch, logs)`` etc.), and the
callbacks people use most: History, EarlyStopping, ModelCheckpoint,
ReduceLROnPlateau, CSVLogger, TerminateOnNaN, LearningRateScheduler.
"""
from __future__ import annotations

import csv
import math
import os
import sys
import time
import warnings

import numpy as np


class Callback:
    """Base class; override the hooks you need. ``self.model`` is set by ``fit``."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...


class History(Callback):
    """Collects the epoch logs: ``history.history['val_accuracy']`` is a list per epoch."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class ProgressLogger(Callback):
    """Keras-style progress: a tqdm bar on a terminal, one plain line per epoch otherwise."""

    def __init__(self, verbose=1, epochs=1, steps=None):
        super().__init__()
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self._bar = None
        self._last_refresh = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        if self.verbose == 1 and sys.stdout.isatty():
            from tqdm.auto import tqdm  # noqa: PLC0415

            self._bar = tqdm(total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}", unit="step",
                             leave=True, dynamic_ncols=True)
        elif self.verbose:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.perf_counter()
        if now - self._last_refresh > 0.5 and logs is not None:
            self._last_refresh = now
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in sorted(logs.items())}, refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        text = " - ".join(f"{k}: {v:.4f}" for k, v in sorted((logs or {}).items()))
        steps = self.steps or 1
        line = f"{steps}/{steps} - {elapsed:.0f}s - {1000 * elapsed / steps:.0f}ms/step - {text}"
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)
            self._bar.close()
            self._bar = None
            print(line, flush=True)
        elif self.verbose:
            print(line, flush=True)

    def on_train_end(self, logs=None):
        if self._bar is not None:  # an epoch left unfinished (a NaN loss, Ctrl-C) ends without on_epoch_end
            self._bar.close()
            self._bar = None


class LambdaCallback(Callback):
    """A callback from plain functions, as Keras' ``LambdaCallback``: each
    argument, if given, is called at that hook with the hook's arguments
    (``on_epoch_end(epoch, logs)``, ``on_train_batch_end(batch, logs)``,
    ``on_train_begin(logs)``, ...)."""

    HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
             "on_train_batch_end")

    def __init__(self, **hooks):
        super().__init__()
        unknown = sorted(set(hooks) - set(self.HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hook(s) {unknown}; the hooks are {list(self.HOOKS)}")
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)  # an instance attribute: called instead of the no-op method


class CallbackList:
    """Runs a list of callbacks; ``fit`` talks only to this."""

    def __init__(self, callbacks, model, epochs, steps, verbose, history):
        self.callbacks = list(callbacks) + [history]
        if verbose:
            self.callbacks.append(ProgressLogger(verbose, epochs, steps))
        self.epoch = 0
        for cb in self.callbacks:
            cb.set_model(model)
            cb.params = {"epochs": epochs, "steps": steps, "verbose": verbose}

    def on_train_begin(self):
        for cb in self.callbacks:
            cb.on_train_begin({})

    def on_train_end(self):
        for cb in self.callbacks:
            cb.on_train_end({})

    def on_epoch_begin(self, epoch):
        self.epoch = epoch
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, {})

    def on_epoch_end(self, epoch, logs):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch):
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, {})

    def on_train_batch_end(self, batch, logs):
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs)


def _monitor_mode(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return mode


class _Monitoring(Callback):
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


class EarlyStopping(_Monitoring):
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


class ModelCheckpoint(_Monitoring):
    """Save the model (atomically) after each epoch, or only when ``monitor`` improves.

    The file name says what is saved: ``"best.keras"`` the whole model
    (``model.save``: architecture, weights, optimizer state; ``load_model``
    reads it), ``"best.weights.h5"`` the weights only (``model.save_weights``).
    ``save_weights_only=True``/``False`` must agree with the name, as in Keras;
    left as ``None`` it follows the name (Keras' default, ``False``, would
    refuse a ``.weights.h5`` name). The name is checked here, when the callback
    is made, not when the first epoch ends.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=None, mode="auto", save_freq="epoch"):
        super().__init__(monitor, mode)
        self.filepath, self.verbose, self.save_best_only = str(filepath), verbose, save_best_only
        if save_freq != "epoch":
            raise ValueError("ModelCheckpoint: only save_freq='epoch' is supported")
        whole_model = self.filepath.endswith(".keras")
        if not whole_model and not self.filepath.endswith(".weights.h5"):
            raise ValueError(f"ModelCheckpoint: the filepath must end in '.keras' (the whole model) or "
                             f"'.weights.h5' (the weights only), got {self.filepath!r}")
        if save_weights_only is not None and bool(save_weights_only) == whole_model:
            wanted = "'.weights.h5'" if save_weights_only else "'.keras'"
            raise ValueError(f"ModelCheckpoint: with save_weights_only={save_weights_only} the filepath must end "
                             f"in {wanted}, got {self.filepath!r}")
        self.save_weights_only = not whole_model

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = self._current(logs)
            if value is None or not self._improved(value):
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {value:.5f}, "
                      f"saving model to {path}")
            self.best = value
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(_Monitoring):
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


class CSVLogger(Callback):
    """Append one CSV row per epoch (epoch, then the logs in sorted order)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = str(filename), separator, append

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._writer = None
        self._header_written = exists

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, **{k: logs[k] for k in sorted(logs or {})}}
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=list(row), delimiter=self.separator)
            if not self._header_written:
                self._writer.writeheader()
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        self._file.close()


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
    training stopped (``fit``'s docstring).
    """

    def on_train_batch_end(self, batch, logs=None):
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
