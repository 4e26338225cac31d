"""BackupAndRestore: a fit that dies and is run again continues from the last
epoch's backup and ends with the same weights as a run that never died."""
import json

import numpy as np
import pytest

import minicnn as mc

rng = np.random.default_rng(0)
X = rng.standard_normal((32, 6)).astype("float32")
Y = rng.integers(0, 3, 32)


def fresh_model():
    model = mc.Sequential([mc.Input((6,)), mc.layers.Dense(8, activation="relu"), mc.layers.Dense(3)])
    model.set_weights([np.random.default_rng(1).standard_normal(w.shape).astype("float32") * 0.3
                       for w in model.get_weights()])
    model.compile(optimizer="adam", loss=mc.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class Crash(mc.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt("killed")


def fit(model, backup, *extra, epochs=4):
    return model.fit(X, Y, batch_size=8, epochs=epochs, shuffle=False, verbose=0, callbacks=[backup, *extra])


def test_a_killed_fit_run_again_continues_from_the_backup_to_the_same_weights(tmp_path):
    never_died = fresh_model()
    fit(never_died, mc.callbacks.BackupAndRestore(tmp_path / "a"))
    assert not (tmp_path / "a").exists()  # a run that ended deletes its backup

    dies = fresh_model()
    with pytest.raises(KeyboardInterrupt):
        fit(dies, mc.callbacks.BackupAndRestore(tmp_path / "b"), Crash(at_epoch=1))
    assert json.loads((tmp_path / "b" / "training_metadata.json").read_text()) == {"epoch": 2}
    again = fresh_model()  # a new process: the same script from the top
    history = fit(again, mc.callbacks.BackupAndRestore(tmp_path / "b"))
    assert len(history.history["loss"]) == 2  # epochs 3 and 4 only
    for a, b in zip(again.get_weights(), never_died.get_weights()):
        np.testing.assert_array_equal(a, b)  # Adam's moments came back too: exactly the same path
    assert again.optimizer.iterations == never_died.optimizer.iterations == 16


def test_a_nan_stop_keeps_the_backup_of_the_last_good_epoch(tmp_path):
    model = fresh_model()

    class Poison(mc.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                model.layers[0].kernel.assign(np.full((6, 8), np.nan, "float32"))

    with pytest.warns(RuntimeWarning, match="NaN"):
        fit(model, mc.callbacks.BackupAndRestore(tmp_path / "c"), Poison())
    assert json.loads((tmp_path / "c" / "training_metadata.json").read_text()) == {"epoch": 2}
    restored = fresh_model()
    restored.load_weights(tmp_path / "c" / "latest.weights.h5")
    assert all(np.isfinite(w).all() for w in restored.get_weights())


def test_integer_save_freq_backs_up_inside_an_epoch_and_bad_arguments_are_clear(tmp_path):
    saved = []

    class Spy(mc.callbacks.BackupAndRestore):
        def _save(self):
            saved.append(self._epoch)
            super()._save()

    fit(fresh_model(), Spy(tmp_path / "d", save_freq=3, delete_checkpoint=False), epochs=1)
    assert len(saved) == 1 and (tmp_path / "d" / "latest.weights.h5").exists()  # 4 batches: one backup at 3
    for bad in ("batch", 0, -2):
        with pytest.raises(ValueError, match="save_freq must be 'epoch' or a positive integer"):
            mc.callbacks.BackupAndRestore(tmp_path, save_freq=bad)
    with pytest.raises(ValueError, match="backup_dir is empty"):
        mc.callbacks.BackupAndRestore("")


def test_double_checkpoint_falls_back_to_the_previous_backup(tmp_path):
    dies = fresh_model()
    with pytest.raises(KeyboardInterrupt):
        fit(dies, mc.callbacks.BackupAndRestore(tmp_path / "e", double_checkpoint=True), Crash(at_epoch=2))
    (tmp_path / "e" / "latest.weights.h5").write_bytes(b"damaged")
    again = fresh_model()
    history = fit(again, mc.callbacks.BackupAndRestore(tmp_path / "e", double_checkpoint=True))
    assert len(history.history["loss"]) == 2  # the previous backup (after epoch 2): epochs 3 and 4
