"""The hooks every callback has, how ``fit`` calls them (``CallbackList``), and
the callbacks ``fit`` always runs or that only watch: History (the epoch logs),
ProgressLogger (the Keras-style progress line) and LambdaCallback."""
from __future__ import annotations

import sys
import time


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
