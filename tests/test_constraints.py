"""Weight constraints by Keras' names and classes: each projection's formula,
layers taking them, the optimizer applying them after every step, .keras files
holding them (both ways with Keras), and Keras' own numbers when it is installed.
(20-step trajectories against Keras' optimizers: parity/test_optimizer_options.py.)"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import constraints, interop

EPS = 1e-7
W = np.array([[3.0, 0.1, -1.0], [4.0, 0.2, 0.0]])  # column norms 5, ~0.224, 1


def test_max_norm_shrinks_only_the_units_over_the_limit():
    out = constraints.MaxNorm(2.0)(W)
    np.testing.assert_allclose(out[:, 0], W[:, 0] * 2 / (5 + EPS))
    np.testing.assert_allclose(out[:, 1:], W[:, 1:] * (1 - EPS / np.linalg.norm(W[:, 1:], axis=0)), rtol=1e-12)
    rows = constraints.MaxNorm(1.0, axis=1)(W)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), [1.0, 1.0], rtol=1e-6)


def test_unit_min_max_and_non_neg():
    np.testing.assert_allclose(np.linalg.norm(constraints.UnitNorm()(W), axis=0), 1.0, rtol=1e-6)
    half = constraints.MinMaxNorm(min_value=0.5, max_value=1.0, rate=0.5)(W)
    norms = np.linalg.norm(W, axis=0)
    np.testing.assert_allclose(np.linalg.norm(half, axis=0), 0.5 * np.clip(norms, 0.5, 1.0) + 0.5 * norms,
                               rtol=1e-6)
    np.testing.assert_array_equal(constraints.NonNeg()(W), np.maximum(W, 0))
    whole_filters = constraints.MaxNorm(1.0, axis=[0, 1, 2])(np.ones((3, 3, 2, 4), "float32"))
    assert whole_filters.dtype == np.float32
    np.testing.assert_allclose(np.sqrt((whole_filters ** 2).sum(axis=(0, 1, 2))), 1.0, rtol=1e-6)


def test_fit_keeps_every_constrained_weight_in_its_set():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 6, 6, 2)).astype("float32"), rng.integers(0, 3, 64)
    model = mc.Sequential([
        mc.Input((6, 6, 2)),
        mc.layers.Conv2D(4, 3, kernel_constraint=constraints.MaxNorm(0.5, axis=[0, 1, 2]), bias_constraint="non_neg"),
        mc.layers.BatchNormalization(gamma_constraint="non_neg"),
        mc.layers.SeparableConv2D(4, 3, pointwise_constraint=constraints.UnitNorm(axis=[0, 1, 2]),
                                  depthwise_constraint="non_neg"),
        mc.layers.Flatten(),
        mc.layers.Dense(3, kernel_constraint="max_norm", activation="softmax"),
    ])
    model.compile(optimizer=mc.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    conv, bn, sep, dense = (model.layers[i] for i in (0, 1, 2, 4))
    assert np.sqrt((conv.kernel.numpy() ** 2).sum(axis=(0, 1, 2))).max() <= 0.5 + 1e-6
    assert conv.bias.numpy().min() >= 0 and bn.gamma.numpy().min() >= 0
    assert sep.depthwise_kernel.numpy().min() >= 0
    np.testing.assert_allclose(np.linalg.norm(sep.pointwise_kernel.numpy().reshape(-1, 4), axis=0), 1.0, rtol=1e-5)
    assert np.linalg.norm(dense.kernel.numpy(), axis=0).max() <= 2.0 + 1e-6


def test_a_frozen_or_unconstrained_weight_is_left_alone():
    model = mc.Sequential([mc.Input((4,)), mc.layers.Dense(3, kernel_constraint=lambda w: w * 0),
                           mc.layers.Dense(2)])
    model.layers[0].trainable = False
    before = model.layers[0].kernel.numpy().copy()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 2), "float32"), verbose=0)
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), before)  # Keras: only trainable ones


def test_configs_and_files_round_trip(tmp_path):
    layer = mc.layers.Dense(2, kernel_constraint=constraints.MaxNorm(3, axis=1), bias_constraint="non_neg")
    config = layer.get_config()
    assert config["kernel_constraint"] == {"module": "keras.constraints", "class_name": "MaxNorm",
                                           "config": {"max_value": 3, "axis": 1}, "registered_name": None}
    assert config["bias_constraint"]["class_name"] == "NonNeg"
    model = mc.Sequential([mc.Input((3,)), layer])
    model.save(tmp_path / "m.keras")
    again = mc.models.load_model(tmp_path / "m.keras").layers[0]
    assert isinstance(again.kernel.constraint, constraints.MaxNorm) and again.kernel.constraint.max_value == 3
    assert isinstance(again.bias.constraint, constraints.NonNeg)


def test_bad_constraints_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown constraint 'max_nrom'"):
        mc.layers.Dense(2, kernel_constraint="max_nrom")
    config = mc.layers.Dense(2).get_config()
    config["kernel_constraint"] = {"module": "keras.constraints", "class_name": "RadialConstraint", "config": {}}
    with pytest.raises(ValueError, match="kernel_constraint .* is not a constraint minicnn has"):
        mc.models.serialization.constructor_arguments(mc.layers.Dense, config, "Dense 'dense'")


@pytest.mark.parametrize("name, kwargs", [("MaxNorm", {"max_value": 1.5, "axis": 0}), ("NonNeg", {}),
                                          ("UnitNorm", {"axis": [0, 1, 2]}),
                                          ("MinMaxNorm", {"min_value": 0.2, "max_value": 0.9, "rate": 0.7,
                                                          "axis": 1})])
def test_the_same_projection_as_keras(name, kwargs):
    keras = pytest.importorskip("keras")
    w = np.random.default_rng(1).standard_normal((3, 3, 2, 4)).astype("float32")
    ours, theirs = getattr(constraints, name)(**kwargs), getattr(keras.constraints, name)(**kwargs)
    np.testing.assert_allclose(ours(w), keras.ops.convert_to_numpy(theirs(w)), rtol=1e-6, atol=1e-7)
    assert ours.get_config() == theirs.get_config()


def test_keras_files_with_constraints_open_both_ways(tmp_path):
    keras = pytest.importorskip("keras")
    theirs = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(
        2, 3, kernel_constraint=keras.constraints.MaxNorm(2.0, axis=[0, 1, 2]), bias_constraint="non_neg"),
        keras.layers.BatchNormalization(beta_constraint="unit_norm")])
    theirs.save(tmp_path / "k.keras")
    ours = mc.models.load_model(tmp_path / "k.keras")
    assert ours.layers[0].kernel.constraint.get_config() == {"max_value": 2.0, "axis": [0, 1, 2]}
    assert isinstance(ours.layers[1].beta.constraint, constraints.UnitNorm)
    ours.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras")
    assert back.layers[0].kernel.constraint.get_config() == {"max_value": 2.0, "axis": [0, 1, 2]}
    assert isinstance(back.layers[0].bias.constraint, keras.constraints.NonNeg)


def test_converting_to_keras_and_back_keeps_constraints_and_regularizers():
    keras = pytest.importorskip("keras")
    model = mc.Sequential([mc.Input((4,)), mc.layers.Dense(3, kernel_constraint=constraints.MaxNorm(1.5),
                                                           kernel_regularizer="l2", bias_constraint="non_neg")])
    theirs = interop.to_keras(model)
    dense = theirs.layers[0]
    assert isinstance(dense.kernel_constraint, keras.constraints.MaxNorm) and dense.kernel_constraint.max_value == 1.5
    assert isinstance(dense.bias_constraint, keras.constraints.NonNeg)
    assert dense.kernel_regularizer.get_config() == pytest.approx({"l2": 0.01})
    back = interop.from_keras(theirs).layers[0]
    assert isinstance(back.kernel.constraint, constraints.MaxNorm) and back.kernel.constraint.max_value == 1.5
    assert back.kernel.regularizer.get_config() == pytest.approx({"l2": 0.01})


def test_a_custom_layer_may_put_a_constraint_object_in_its_config(tmp_path):
    @mc.utils.register_keras_serializable("tests")
    class Clipped(mc.layers.Layer):
        def __init__(self, limit=None, **kwargs):
            super().__init__(**kwargs)
            self.limit = constraints.get(limit)

        def call(self, x):
            return x

        def get_config(self):
            return {**super().get_config(), "limit": self.limit}

    model = mc.Sequential([mc.Input((3,)), Clipped(limit=constraints.NonNeg())])
    model.save(tmp_path / "m.keras")
    assert isinstance(mc.models.load_model(tmp_path / "m.keras").layers[0].limit, constraints.NonNeg)


def test_a_constraint_class_is_made_and_a_tensor_result_is_taken():
    """As Keras: ``kernel_constraint=constraints.MaxNorm`` means MaxNorm(). A constraint
    written with minicnn.ops returns a Tensor; one returning any other array is assigned
    as that array (a CuPy array's own ``.data`` is a memory pointer, not its values)."""

    class WithData(np.ndarray):
        data = "a memory pointer"

    model = mc.Sequential([mc.Input((4,)),
                           mc.layers.Dense(3, kernel_constraint=constraints.MaxNorm,
                                           bias_constraint=lambda b: mc.ops.maximum(b, 1.0)),
                           mc.layers.Dense(2, kernel_constraint=lambda w: np.zeros_like(w).view(WithData))])
    assert isinstance(model.layers[0].kernel.constraint, constraints.MaxNorm)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 2), "float32"), verbose=0)
    assert np.linalg.norm(model.layers[0].kernel.numpy(), axis=0).max() <= 2.0 + 1e-6
    assert model.layers[0].bias.numpy().min() >= 1.0 and not model.layers[1].kernel.numpy().any()
    assert isinstance(mc.regularizers.get(mc.regularizers.L2), mc.regularizers.L2)


def test_to_keras_refuses_a_function_it_cannot_carry():
    pytest.importorskip("keras")
    model = mc.Sequential([mc.Input((4,)), mc.layers.Dense(3, kernel_constraint=lambda w: w)])
    with pytest.raises(ValueError, match="kernel_constraint is your function .* Nothing was converted"):
        interop.to_keras(model)
