"""load_weights is all or nothing: a damaged .weights.h5 raises WeightsFileError naming the file and the
weight, and every weight is byte-identical to what it was before (even the layers before the bad one)."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

import minicnn as mc
from minicnn import layers
from minicnn.models.weight_values import WeightsFileError

LAST_BIAS = "layers/dense_1/vars/1"


def small_net():
    return mc.Sequential([mc.Input((6, 6, 1)), layers.Conv2D(2, 3, name="conv"), layers.Flatten(name="flat"),
                          layers.Dense(4, name="hidden"), layers.Dense(3, name="probs")])


def saved(tmp_path):
    path = tmp_path / "net.weights.h5"
    small_net().save_weights(path)
    return path


def replace(path, name, value):
    with h5py.File(path, "a") as f:
        del f[name]
        if value is not None:
            f[name] = value


def snapshot(model):
    return [w.numpy().tobytes() for w in model.weights]


CORRUPTIONS = {
    "wrong shape in the last layer": (lambda p: replace(p, "layers/dense_1/vars/0", np.zeros((4, 5), "f4")),
                                      "layer 'probs' ('layers/dense_1/vars/0'): weight 'kernel' has shape (4, 3) but "
                                      "the file holds shape (4, 5). Nothing was changed."),
    "text in the last bias": (lambda p: replace(p, LAST_BIAS, np.array([b"a", b"b", b"c"])),
                              f"layer 'probs' ('{LAST_BIAS}'): weight 'bias' holds |S1 data, not numbers; expected "
                              "float32. Nothing was changed."),
    "NaN": (lambda p: replace(p, LAST_BIAS, np.array([0, np.nan, 0], "f4")),
            f"layer 'probs' ('{LAST_BIAS}'): weight 'bias' holds NaN or infinite values (1 of 3). Nothing was "
            "changed; pass allow_nonfinite=True to load them anyway."),
    "inf": (lambda p: replace(p, LAST_BIAS, np.array([0, 0, -np.inf], "f4")),
            f"layer 'probs' ('{LAST_BIAS}'): weight 'bias' holds NaN or infinite values (1 of 3). Nothing was "
            "changed; pass allow_nonfinite=True to load them anyway."),
    "too large for float32": (lambda p: replace(p, LAST_BIAS, np.array([1e300, 0, 0], "f8")),
                              f"layer 'probs' ('{LAST_BIAS}'): weight 'bias' holds values too large for float32 "
                              "(1 of 3). Nothing was changed; pass allow_nonfinite=True to load them anyway."),
    "complex": (lambda p: replace(p, LAST_BIAS, np.array([1 + 2j, 0, 0], "c8")),
                f"layer 'probs' ('{LAST_BIAS}'): weight 'bias' holds complex numbers (complex64); a weight is real "
                "(float32). Nothing was changed."),
    "missing dataset": (lambda p: replace(p, LAST_BIAS, None),
                        "layer 'probs' has 2 weights but {path} holds 1. Nothing was changed."),
    "a group where the bias should be": (lambda p: (replace(p, LAST_BIAS, None), replace_group(p, LAST_BIAS)),
                                         f"layer 'probs' ('{LAST_BIAS}'): weight 'bias' is missing (no dataset "
                                         "there). Nothing was changed."),
}


def replace_group(path, name):
    with h5py.File(path, "a") as f:
        f.create_group(name)


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_damaged_file_changes_no_weight_and_names_the_weight(tmp_path, corruption):
    path = saved(tmp_path)
    damage, message = CORRUPTIONS[corruption]
    damage(path)
    model = small_net()
    before = snapshot(model)
    with pytest.raises(WeightsFileError) as info:
        model.load_weights(path)
    assert isinstance(info.value, ValueError)  # code that caught ValueError still does
    if message.startswith("layer 'probs' has"):
        assert str(info.value) == "load_weights: " + message.format(path=path)
    else:
        assert str(info.value) == f"load_weights: {path}, " + message
    assert snapshot(model) == before


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_a_truncated_file_changes_no_weight(tmp_path, keep):
    path = saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    model = small_net()
    before = snapshot(model)
    with pytest.raises(WeightsFileError) as info:
        model.load_weights(path)
    assert str(path) in str(info.value) and "Nothing was changed" in str(info.value)
    assert snapshot(model) == before


def test_allow_nonfinite_loads_nan_on_request_and_other_dtypes_are_cast(tmp_path):
    path = saved(tmp_path)
    replace(path, LAST_BIAS, np.array([0, np.nan, np.inf], "f4"))
    replace(path, "layers/dense_1/vars/0", np.ones((4, 3), "f8"))  # float64 and ints are cast to float32
    replace(path, "layers/dense/vars/1", np.arange(4, dtype="i8"))
    model = small_net()
    model.load_weights(path, allow_nonfinite=True)
    bias = model.get_layer("probs").bias.numpy()
    assert bias.dtype == np.float32 and bias[0] == 0 and np.isnan(bias[1]) and np.isposinf(bias[2])
    np.testing.assert_array_equal(model.get_layer("probs").kernel.numpy(), np.ones((4, 3), "f4"))
    np.testing.assert_array_equal(model.get_layer("hidden").bias.numpy(), np.arange(4, dtype="f4"))


def _legacy_file(path, model, change=None):
    """A Keras-2 ("legacy h5") weight file for ``model``, as the published ImageNet files are laid out."""
    import h5py

    with h5py.File(path, "w") as f:
        named = [layer for layer in model.layers if layer.weights]
        f.attrs["layer_names"] = [layer.name.encode() for layer in named]
        for layer in named:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{w.name}:0" for w in layer.weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for n, w in zip(names, layer.weights):
                value = w.numpy()
                if change is not None:
                    value = change(layer.name, w.name, value)
                group.create_dataset(n, data=value)


@pytest.mark.parametrize("change, message", [
    (lambda layer, name, v: np.full_like(v, np.nan) if name == "bias" else v, "holds NaN or infinite values"),
    (lambda layer, name, v: v[:-1] if name == "kernel" else v, "has shape"),
    (lambda layer, name, v: v.astype(complex) if name == "bias" else v, "holds complex numbers"),
    (lambda layer, name, v: np.array([b"x"] * v.size) if name == "bias" else v, "not numbers"),
])
def test_legacy_keras2_files_are_checked_before_anything_changes(tmp_path, change, message):
    from minicnn.applications._common import load_weight_file

    source = mc.Sequential([mc.Input((4,)), mc.layers.Dense(3, name="a"), mc.layers.Dense(2, name="b")])
    path = tmp_path / "legacy.h5"
    _legacy_file(path, source, change)
    target = mc.Sequential([mc.Input((4,)), mc.layers.Dense(3, name="a"), mc.layers.Dense(2, name="b")])
    before = [w.copy() for w in target.get_weights()]
    with pytest.raises(WeightsFileError, match=f"{path}.*{message}.*Nothing was changed"):
        load_weight_file(target, path)
    for a, b in zip(before, target.get_weights()):
        assert a.tobytes() == b.tobytes()
    _legacy_file(path, source)
    load_weight_file(target, path)  # an intact file loads
    for a, b in zip(source.get_weights(), target.get_weights()):
        np.testing.assert_array_equal(a, b)
