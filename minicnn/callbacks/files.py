"""Callbacks that write files: ModelCheckpoint (the model or its weights after
an epoch), CSVLogger (one row per epoch) and BackupAndRestore (a backup that a
restarted ``fit`` continues from)."""
from __future__ import annotations

import csv
import json
import os
import shutil

from ..atomic_files import atomic_path
from .base import Callback
from .monitors import Monitor


class ModelCheckpoint(Monitor):
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


class BackupAndRestore(Callback):
    """Keep a backup of training in ``backup_dir`` so that a ``fit`` that was
    killed, run again with the same arguments, continues where the backup was made.

    After every epoch (or every ``save_freq`` batches) it writes the weights
    and the optimizer's state (``model.save_weights``) and the number of
    finished epochs (``training_metadata.json``), each file atomically. The
    next ``fit`` with this callback loads both before the first epoch and
    starts at that epoch. A training run that ends normally deletes the backup
    (``delete_checkpoint``). Two deviations from Keras, both to keep good work:
    a run that stopped on a NaN loss keeps the backup of its last good epoch
    (``fit`` skips ``on_epoch_end`` for that epoch, so nothing broken is
    written), and a mid-epoch backup (integer ``save_freq``) resumes at the start of
    that epoch with the weights it saved, as in Keras, so a few batches train
    twice; for an exact mid-epoch resume use the CLI's ``minicnn train --resume``.
    With ``double_checkpoint`` the previous backup is kept too, and used if the
    latest cannot be read.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir is empty")
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' or a positive integer, got {save_freq!r}")
        self.backup_dir, self.save_freq = str(backup_dir), save_freq
        self.double_checkpoint, self.delete_checkpoint = double_checkpoint, delete_checkpoint
        self._weights = os.path.join(self.backup_dir, "latest.weights.h5")
        self._metadata = os.path.join(self.backup_dir, "training_metadata.json")
        self._epoch, self._batches_since_save = 0, 0

    def on_train_begin(self, logs=None):
        try:
            self._restore(self._weights, self._metadata)
        except (OSError, ValueError):
            if not (self.double_checkpoint and os.path.exists(self._weights + ".bkp")):
                raise
            self._restore(self._weights + ".bkp", self._metadata + ".bkp")

    def _restore(self, weights, metadata):
        if not os.path.exists(weights):
            return
        with open(metadata) as f:
            epoch = json.load(f)["epoch"]
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"BackupAndRestore: {metadata} holds epoch {epoch!r}, not a count of epochs")
        self.model.load_weights(weights)  # all or nothing, the optimizer's state too
        self.model._initial_epoch = self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches_since_save += 1
            if self._batches_since_save >= self.save_freq:
                self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        if self.save_freq == "epoch":
            self._save()

    def _save(self):
        self._batches_since_save = 0
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights):
            for path in (self._weights, self._metadata):
                shutil.copyfile(path, path + ".bkp")
        self.model.save_weights(self._weights)
        with atomic_path(self._metadata) as tmp, open(tmp, "w") as f:
            json.dump({"epoch": self._epoch}, f)

    def on_train_end(self, logs=None):
        finished = getattr(self.model, "unfinished_epoch", None) is None
        if self.delete_checkpoint and finished and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)
