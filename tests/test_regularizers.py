"""Weight regularizers by Keras' names and classes: the penalty's value and
gradient, layers taking them as strings, and .keras files holding them (Keras'
own numbers for the same penalties are compared in parity/test_keras_files.py's
round trips and below when Keras is installed)."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import regularizers
from minicnn.autograd import Tensor

W = np.array([[0.5, -2.0], [0.0, 1.5]])


@pytest.mark.parametrize("reg, value, grad", [
    (regularizers.L1(0.1), 0.1 * 4.0, 0.1 * np.sign(W)),
    (regularizers.L2(0.1), 0.1 * 6.5, 0.2 * W),
    (regularizers.L1L2(l1=0.1, l2=0.01), 0.4 + 0.065, 0.1 * np.sign(W) + 0.02 * W),
    (regularizers.get("l2"), 0.01 * 6.5, 0.02 * W),
])
def test_penalty_and_gradient(reg, value, grad):
    w = Tensor(W.copy(), requires_grad=True)
    penalty = reg(w)
    assert float(penalty.data) == pytest.approx(value)
    penalty.backward()
    np.testing.assert_allclose(w.grad, grad)


def test_layers_take_names_and_the_model_loss_includes_the_penalty():
    model = mc.Sequential([mc.Input((2,)), mc.layers.Dense(2, kernel_regularizer="l2", bias_regularizer="l1")])
    kernel, bias = model.layers[0].kernel.numpy(), model.layers[0].bias.numpy()
    penalties = [float(p.data) for p in model.losses]
    assert penalties == pytest.approx([0.01 * (kernel ** 2).sum(), 0.01 * np.abs(bias).sum()], rel=1e-6)
    assert model.layers[0].get_config()["kernel_regularizer"] == "l2"


def test_keras_dicts_and_files_round_trip(tmp_path):
    model = mc.Sequential([mc.Input((3,)), mc.layers.Dense(2, kernel_regularizer=regularizers.L1L2(1e-3, 1e-2))])
    config = model.layers[0].get_config()["kernel_regularizer"]
    assert config == {"module": "keras.regularizers", "class_name": "L1L2", "config": {"l1": 1e-3, "l2": 1e-2},
                      "registered_name": None}
    model.save(tmp_path / "m.keras")
    again = mc.models.load_model(tmp_path / "m.keras")
    reg = again.layers[0].kernel.regularizer
    assert isinstance(reg, regularizers.L1L2) and (reg.l1, reg.l2) == (1e-3, 1e-2)
    assert float(again.losses[0].data) == pytest.approx(float(model.losses[0].data))


def test_bad_regularizers_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'"):
        mc.layers.Dense(2, kernel_regularizer="l3").build((None, 2))
    with pytest.raises(ValueError, match="l2 must be a number >= 0, got -1"):
        regularizers.L2(-1)


def test_the_same_penalty_as_keras():
    keras = pytest.importorskip("keras")
    for ours, theirs in [(regularizers.L1(0.3), keras.regularizers.L1(0.3)),
                         (regularizers.L2(0.3), keras.regularizers.L2(0.3)),
                         (regularizers.L1L2(0.2, 0.4), keras.regularizers.L1L2(0.2, 0.4))]:
        assert float(ours(Tensor(W)).data) == pytest.approx(float(theirs(W)), rel=1e-6)
        assert ours.get_config() == pytest.approx(theirs.get_config())


def test_keras_files_with_regularizers_open_both_ways(tmp_path):
    keras = pytest.importorskip("keras")
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
        2, kernel_regularizer=keras.regularizers.L1L2(0.01, 0.02), bias_regularizer="l2")])
    theirs.save(tmp_path / "k.keras")
    ours = mc.models.load_model(tmp_path / "k.keras")
    assert sum(float(p.data) for p in ours.losses) == pytest.approx(float(sum(theirs.losses)), rel=1e-6)
    ours.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras")
    assert float(sum(back.losses)) == pytest.approx(float(sum(theirs.losses)), rel=1e-6)
    assert back.layers[0].kernel_regularizer.get_config() == pytest.approx({"l1": 0.01, "l2": 0.02})
