"""Checkpoints hold the complete training state; resuming reproduces the exact weights."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import minicnn as mc
from minicnn import random as mc_random
from minicnn.io import checkpoint, resume
from minicnn.models.data import ArrayBatches

X = np.random.default_rng(1).normal(size=(50, 6)).astype("float32")
Y = (X.sum(axis=1) > 0).astype("int64")


def _model():
    model = mc.Sequential([mc.Input((6,)), mc.layers.Dense(16, activation="relu"), mc.layers.Dropout(0.3),
                           mc.layers.Dense(2, activation="softmax")])
    model.compile(mc.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class ReadAhead:
    """Batches fetched one ahead of training, as the GPU path copies the next batch while one trains."""

    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        it = iter(self.batches)
        ahead = next(it, None)
        while ahead is not None:
            batch, ahead = ahead, next(it, None)
            yield batch


def _train(model, epochs, path=None, stop_after=None, resume_from=None, read_ahead=False):
    """Fit with the resumable machinery; ``stop_after`` = total batches before a 'Ctrl-C'.
    Returns the TrainingCheckpoint (or None) and fit's history dict."""
    batches = resume.ResumableBatches(ArrayBatches(X, Y, 8, shuffle=True))
    seen = [0]

    def stop_requested():
        seen[0] += 1
        return stop_after is not None and seen[0] >= stop_after

    initial_epoch = 0
    if resume_from is not None:
        header = checkpoint.restore_checkpoint(resume_from, model)
        batches.resume_at(header)
        initial_epoch = header["epoch"]
    callback = resume.TrainingCheckpoint(path, batches, stop_requested=stop_requested) if path else None
    best = mc.callbacks.ModelCheckpoint(path.parent / "best.weights.h5", monitor="val_accuracy",
                                        save_best_only=True) if path else None
    history = model.fit(ReadAhead(batches) if read_ahead else batches, epochs=epochs, initial_epoch=initial_epoch, verbose=0, validation_data=(X, Y),
                        callbacks=[callback, best] if callback else [])
    return callback, history.history


def _reference(epochs=3):
    mc.utils.set_random_seed(11)
    model = _model()
    _, history = _train(model, epochs)
    return model.get_weights(), history


def _assert_same(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def _joined(*histories):
    return {key: sum((h.get(key, []) for h in histories), []) for key in histories[-1]}


def test_round_trip_restores_weights_optimizer_slots_iterations_and_rng(tmp_path):
    mc.utils.set_random_seed(3)
    model = _model()
    _train(model, 1)
    path = tmp_path / "c.npz"
    checkpoint.save_checkpoint(path, model, epoch=1, extra={"note": [1, 2]})
    state = mc_random.get_state()
    expected_slots = [{k: v.copy() for k, v in s.items()} for s in model.optimizer.slots_for(model.trainable_weights)]
    mc_random.generator().random(10)  # move the stream on
    other = _model()
    header = checkpoint.restore_checkpoint(path, other)
    assert header["epoch"] == 1 and header["extra"] == {"note": [1, 2]}
    _assert_same(other.get_weights(), model.get_weights())
    assert other.optimizer.iterations == model.optimizer.iterations == 7
    assert other.optimizer.learning_rate == pytest.approx(0.01)
    for got, want in zip(other.optimizer.slots_for(other.trainable_weights), expected_slots, strict=True):
        assert set(got) == {"m", "v"}
        _assert_same([got["m"], got["v"]], [want["m"], want["v"]])
    assert mc_random.get_state() == state


def test_resume_at_an_epoch_boundary_gives_the_same_weights(tmp_path):
    want, want_history = _reference()
    mc.utils.set_random_seed(11)
    path = tmp_path / "c.npz"
    first = _model()
    _, before = _train(first, 1, path)  # as if killed right after epoch 1's checkpoint
    mc.utils.set_random_seed(999)  # a fresh process: different init and stream
    second = _model()
    _, after = _train(second, 3, path, resume_from=path)
    _assert_same(second.get_weights(), want)
    assert _joined(before, after) == want_history


# 50 samples in batches of 8: 7 steps per epoch. Steps 1, 4, 7 are the first, a middle and the last step of
# epoch 1; 8 and 14 the first and last of epoch 2.
@pytest.mark.parametrize("stop_after, read_ahead", [(1, False), (4, False), (7, False), (8, False), (14, False),
                                                    (4, True), (7, True)])
def test_resume_from_a_mid_epoch_stop_gives_the_same_weights_and_history(tmp_path, stop_after, read_ahead):
    want, want_history = _reference()
    mc.utils.set_random_seed(11)
    path = tmp_path / "c.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "val_accuracy is not in the logs" from the stopped epoch or after
        model = _model()
        callback, before = _train(model, 3, path, stop_after=stop_after, read_ahead=read_ahead)
        header, _ = checkpoint.read_checkpoint(path)
        assert callback.interrupted and model.unfinished_epoch["reason"] == "interrupted"
        assert (header["epoch"], header["step"]) == ((stop_after - 1) // 7, (stop_after - 1) % 7 + 1)
        assert len(before.get("loss", [])) == header["epoch"]  # the stopped epoch is not recorded half-done
        mc.utils.set_random_seed(5)
        model = _model()
        _, after = _train(model, 3, path, resume_from=path, read_ahead=read_ahead)
    _assert_same(model.get_weights(), want)
    assert _joined(before, after) == want_history  # exact: the epoch's running sums came back with it
    assert min(want_history["loss"]) > 0.0


def test_mismatched_or_damaged_checkpoints_are_refused_and_change_nothing(tmp_path):
    model = _model()
    path = tmp_path / "c.npz"
    checkpoint.save_checkpoint(path, model, epoch=0)
    wider = mc.Sequential([mc.Input((6,)), mc.layers.Dense(17), mc.layers.Dense(2)])
    wider.compile("adam", "mse")
    before = wider.get_weights()
    with pytest.raises(ValueError, match=r"shape \(6, 16\).*Nothing was changed"):
        checkpoint.restore_checkpoint(path, wider)
    _assert_same(wider.get_weights(), before)
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a readable minicnn checkpoint"):
        checkpoint.restore_checkpoint(damaged, model)
    with pytest.raises(ValueError, match="epoch_rng_state"):
        checkpoint.save_checkpoint(path, model, epoch=0, step=3)


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = _model()
    path = tmp_path / "c.npz"
    checkpoint.save_checkpoint(path, model, epoch=1)
    good = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_checkpoint(path, model, epoch=2)
    assert path.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == ["c.npz"]
