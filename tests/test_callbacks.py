"""Each Keras callback on a small real fit (a linear model, so it is fast)."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

import minicnn as mc
from minicnn import callbacks as cbs

X = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
Y = (X[:, :1] * 2.0 - X[:, 1:2]).astype("float32")


def _model(lr=0.05):
    model = mc.Sequential([mc.Input((4,)), mc.layers.Dense(1)])
    model.compile(mc.optimizers.SGD(lr), "mse")
    return model


class Scripted(cbs.Callback):
    """Overwrites ``val_loss`` with a fixed sequence, so monitor logic is tested exactly."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def test_early_stopping_waits_patience_and_restores_best_weights():
    model = _model()
    seen = []

    class Snap(cbs.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(model.get_weights())

    stop = cbs.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(X, Y, epochs=10, verbose=0, validation_data=(X, Y),
                        callbacks=[Scripted([5, 3, 4, 1, 2, 2.5, 9, 9, 9, 9]), Snap(), stop])
    assert len(history.history["loss"]) == 6 and stop.stopped_epoch == 5 and stop.best_epoch == 3
    for a, b in zip(model.get_weights(), seen[3]):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_save_best_only(tmp_path):
    model = _model()
    path = tmp_path / "best-{epoch}.weights.h5"
    model.fit(X, Y, epochs=5, verbose=0, validation_data=(X, Y),
              callbacks=[Scripted([3, 1, 2, 0.5, 0.7]), cbs.ModelCheckpoint(path, save_best_only=True)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-1.weights.h5", "best-2.weights.h5",
                                                          "best-4.weights.h5"]
    every = tmp_path / "every.weights.h5"
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[cbs.ModelCheckpoint(every, save_best_only=False)])
    fresh = _model()
    fresh.load_weights(every)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_reduce_lr_on_plateau_with_cooldown_and_min_lr():
    model = _model()
    lrs = []

    class Record(cbs.Callback):
        def on_epoch_end(self, epoch, logs=None):
            lrs.append(model.optimizer.learning_rate)

    model.compile(mc.optimizers.SGD(1e-3), "mse")
    plateau = cbs.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_lr=2e-4)
    history = model.fit(X, Y, epochs=8, verbose=0, validation_data=(X, Y),
                        callbacks=[Scripted([1, 1, 1, 1, 1, 1, 1, 1]), plateau, Record()])
    # patience 2 -> halve; the cooldown epoch does not count towards the next wait; floor at min_lr
    assert lrs == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4, 2e-4, 2e-4])
    # as Keras 3, History records the rate each epoch ran with (before that epoch's reduction)
    assert history.history["learning_rate"] == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4, 2e-4])


def test_csv_logger_writes_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    model = _model()
    model.fit(X, Y, epochs=2, verbose=0, validation_data=(X, Y), callbacks=[cbs.CSVLogger(path)])
    model.fit(X, Y, epochs=1, verbose=0, validation_data=(X, Y), callbacks=[cbs.CSVLogger(path, append=True)])
    rows = list(csv.DictReader(path.open()))
    assert [r["epoch"] for r in rows] == ["0", "1", "0"] and set(rows[0]) == {"epoch", "loss", "val_loss"}
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])


def test_terminate_on_nan_stops_at_the_first_bad_batch():
    model = _model()
    stopper = cbs.TerminateOnNaN()
    stopper.set_model(model)
    stopper.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    stopper.on_train_batch_end(1, {"loss": math.nan})
    assert model.stop_training
    bad = X.copy()
    bad[40:] = np.nan
    with pytest.warns(RuntimeWarning, match="NaN"):
        history = model.fit(bad, Y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[cbs.TerminateOnNaN()])
    assert len(history.history["loss"]) == 1


def test_learning_rate_scheduler_sets_lr_each_epoch_and_logs_it():
    model = _model()
    history = model.fit(X, Y, epochs=3, verbose=0,
                        callbacks=[cbs.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    with pytest.raises(ValueError, match="schedule returned"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[cbs.LearningRateScheduler(lambda e, lr: math.inf)])


@pytest.mark.parametrize("filepath, weights_only, message", [
    ("model.keras", True, "with save_weights_only=True the filepath must end in '.weights.h5'"),
    ("model.weights.h5", False, "with save_weights_only=False the filepath must end in '.keras'"),
    ("model.h5", None, "must end in '.keras' .* or '.weights.h5'"),
])
def test_model_checkpoint_checks_its_file_name_when_made_not_after_an_epoch(filepath, weights_only, message):
    with pytest.raises(ValueError, match=message):
        cbs.ModelCheckpoint(filepath, save_weights_only=weights_only)


def test_lambda_callback_calls_the_functions_it_was_given():
    seen = []
    callback = cbs.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(("epoch", epoch, sorted(logs))),
                                  on_train_batch_end=lambda batch, logs: seen.append(("batch", batch)),
                                  on_train_end=lambda logs: seen.append(("end",)))
    model = _model()
    model.fit(X, Y, epochs=2, batch_size=len(X), verbose=0, callbacks=[callback])
    assert seen == [("batch", 0), ("epoch", 0, ["loss"]), ("batch", 0), ("epoch", 1, ["loss"]), ("end",)]
    with pytest.raises(TypeError, match="unknown hook"):
        cbs.LambdaCallback(on_epoch_ended=print)


def test_a_nan_stop_leaves_the_epoch_unfinished_and_good_files_alone(tmp_path):
    """Keras would still run on_epoch_end after TerminateOnNaN, so ModelCheckpoint would write the NaN
    weights; minicnn ends the epoch there: History records its NaN loss, no other callback sees its end."""
    model = _model()
    path = tmp_path / "every.weights.h5"
    ended = []
    bad = X.copy()
    bad[40:] = np.nan  # epoch 2's sixth batch of 8 (unshuffled) is the first with NaN
    callbacks = [cbs.ModelCheckpoint(path), cbs.LambdaCallback(on_epoch_end=lambda e, logs: ended.append(e)),
                 cbs.TerminateOnNaN()]
    model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
    good = path.read_bytes()
    with pytest.warns(RuntimeWarning, match="Batch 5 of epoch 2"):
        history = model.fit(bad, Y, batch_size=8, epochs=3, initial_epoch=1, shuffle=False, verbose=0,
                            callbacks=callbacks)
    assert model.unfinished_epoch == {"reason": "nan_loss", "epoch": 1, "batch": 5}
    assert ended == [0] and path.read_bytes() == good
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])
