"""A damaged or crafted checkpoint.npz is refused as a whole: the error names the
file and what is wrong, and every weight, optimizer slot, the step counter and
the RNG state are exactly as before the attempt."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn import random as mc_random
from minicnn.io import checkpoint

X = np.random.default_rng(1).normal(size=(40, 6)).astype("float32")
Y = (X.sum(axis=1) > 0).astype("int64")
FUZZ_EXAMPLES = 50


def _trained(seed):
    """A small model after one epoch: weights and Adam slots that differ from seed to seed."""
    mc.utils.set_random_seed(seed)
    model = mc.Sequential([mc.Input((6,)), mc.layers.Dense(16, activation="relu"),
                           mc.layers.Dense(2, activation="softmax")])
    model.compile(mc.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    return model


def _state(model):
    """Everything a restore may touch, as bytes: weights, slots, step counter, learning rate, RNG state."""
    slots = [{k: np.asarray(v).tobytes() for k, v in s.items()}
             for s in model.optimizer.slots_for(model.trainable_weights)]
    return ([w.tobytes() for w in model.get_weights()], slots, model.optimizer.iterations,
            model.optimizer.learning_rate, json.dumps(mc_random.get_state()))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A good checkpoint (mid-epoch, so it holds running metric sums too) and the state it holds."""
    model = _trained(3)
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.npz"
    checkpoint.save_checkpoint(path, model, epoch=1, step=2, epoch_rng_state=mc_random.get_state())
    return path, _state(model)


def _rewritten(path, target, change):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    with open(target, "wb") as f:
        np.savez(f, **arrays)
    return target


def _header(change):
    def rewrite(arrays):
        header = json.loads(str(arrays["header"]))
        change(header)
        arrays["header"] = np.array(json.dumps(header))
    return rewrite


def _set(key, value):
    return lambda arrays: arrays.__setitem__(key, value)


def _nan_at_first(arrays):
    arrays["weight/0"] = arrays["weight/0"].copy()
    arrays["weight/0"][0, 0] = np.nan


CORRUPTIONS = {  # name: (change to the arrays, what the message must say)
    "a weight of the wrong shape": (_set("weight/1", np.zeros(17, "float32")),
                                    r"entry 'weight/1': weight 'bias' has shape \(16,\) but the file holds shape "
                                    r"\(17,\)"),
    "a weight missing": (lambda a: a.pop("weight/3"), r"entry 'weight/3' is missing"),
    "a bogus rng_state": (_header(lambda h: h.update(rng_state={"bit_generator": "PCG64", "state": "x"})),
                          r"'rng_state' is not a valid random generator state"),
    "a bogus epoch_rng_state": (_header(lambda h: h.update(epoch_rng_state=[1, 2])),
                                r"'epoch_rng_state' is not a valid random generator state"),
    "an Adam slot of the wrong shape": (_set("slot/0/m", np.zeros((3, 3), "float32")),
                                        r"optimizer slot 'slot/0/m': weight 'kernel' has shape \(6, 16\) but the "
                                        r"file holds shape \(3, 3\)"),
    "an Adam slot missing": (lambda a: a.pop("slot/2/v"), r"optimizer slots \['m'\], but Adam keeps \['m', 'v'\]"),
    "a NaN weight": (_nan_at_first, r"entry 'weight/0': weight 'kernel' holds NaN or infinite values \(1 of 96\)"),
    "a complex bias": (lambda a: a.update({"weight/3": a["weight/3"].astype(complex)}), r"holds complex numbers"),
    "a string bias": (_set("weight/3", np.array(["a", "b"])), r"holds <U1 data, not numbers"),
    "a negative step counter": (_header(lambda h: h["optimizer"].update(iterations=-1)),
                                r"the optimizer's step counter is -1, not a count"),
    "an extra weight": (_set("weight/4", np.zeros(2, "float32")), r"unexpected entries \['weight/4'\]"),
    "a running sum that is not a number": (_set("metric/1/total", np.array("x")), r"entry 'metric/1/total'"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_corrupted_checkpoint_changes_nothing_and_says_what_is_wrong(saved, tmp_path, name):
    change, message = CORRUPTIONS[name]
    bad = _rewritten(saved[0], tmp_path / "checkpoint.npz", change)
    model = _trained(7)
    before = _state(model)
    with pytest.raises(checkpoint.CheckpointError, match=message) as error:
        checkpoint.restore_checkpoint(bad, model)
    assert str(bad) in str(error.value) and "Nothing was changed" in str(error.value)
    assert _state(model) == before


def test_a_truncated_checkpoint_changes_nothing(saved, tmp_path):
    bad = tmp_path / "checkpoint.npz"
    bad.write_bytes(saved[0].read_bytes()[:-300])
    model = _trained(7)
    before = _state(model)
    with pytest.raises(checkpoint.CheckpointError, match=f"{bad} is not a readable minicnn checkpoint"):
        checkpoint.restore_checkpoint(bad, model)
    assert _state(model) == before


def test_nonfinite_weights_load_when_asked_for(saved, tmp_path):
    bad = _rewritten(saved[0], tmp_path / "checkpoint.npz", _nan_at_first)
    model = _trained(7)
    checkpoint.restore_checkpoint(bad, model, allow_nonfinite=True)
    assert np.isnan(model.get_weights()[0][0, 0]) and np.isfinite(model.get_weights()[0].ravel()[1:]).all()


def test_a_good_checkpoint_restores_everything(saved):
    model = _trained(7)
    header = checkpoint.restore_checkpoint(saved[0], model)
    assert _state(model) == saved[1] and header["step"] == 2
    assert [sorted(s) for s in header["running_metric_state"]] == [["count", "total"], ["count", "total"]]


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
       flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 255)), max_size=4))
def test_fuzzed_checkpoint_loads_exactly_or_is_refused_and_changes_nothing(saved, cut, flips):
    """Truncations and byte flips anywhere in a saved checkpoint.npz: either the
    load gives exactly the saved state (a flip the format ignores, such as a
    file date) or it is a CheckpointError naming the file, with the model untouched."""
    data = bytearray(saved[0].read_bytes())
    for where, xor in flips:
        data[int(where * (len(data) - 1))] ^= xor
    if cut is not None:
        data = data[:int(cut * len(data))]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "checkpoint.npz"
        path.write_bytes(bytes(data))
        model = _trained(7)
        before = _state(model)
        try:
            checkpoint.restore_checkpoint(path, model)
        except checkpoint.CheckpointError as error:
            assert str(path) in str(error)
            assert _state(model) == before
        else:
            assert _state(model) == saved[1]
