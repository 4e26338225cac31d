"""Whole-model files and configs within minicnn: save -> load_model gives the same model.

Same predictions, same optimizer state, and training that continues exactly as
if it had never stopped; get_config/from_config for every layer; to_json,
model_from_json, clone_model; ModelCheckpoint('.keras'); and the errors a bad
file or an unsaveable model gets. (Files crossing to and from Keras: parity/test_keras_files.py.)
"""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import minicnn as mc
from minicnn import layers as L
from minicnn.models import clone_model, load_model, model_from_json, register_keras_serializable

RNG = np.random.default_rng(0)
IMAGES = RNG.random((16, 32, 32, 3), dtype=np.float32)
LABELS = RNG.integers(0, 10, 16)


@register_keras_serializable(package="tests")
class Scale(L.Layer):
    """A custom layer with an argument and a weight."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight((input_shape[-1],), "ones", name="w")

    def call(self, x):
        return x * self.w * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@register_keras_serializable(package="tests")
class Net(mc.Model):
    """A subclassed model holding the custom layer."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden, self.scale, self.head = L.Dense(units, activation="relu"), Scale(1.5), L.Dense(2)

    def call(self, x):
        return self.head(self.scale(self.hidden(x)))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _two_inputs():
    a, b = mc.Input((8, 8, 3), name="image"), mc.Input((5,), name="extra")
    x = L.GlobalAveragePooling2D()(L.BatchNormalization()(L.Conv2D(4, 3, padding="same", activation="relu")(a)))
    inner = mc.Sequential([mc.Input((5,)), L.Dense(4, activation="relu")], name="inner")
    return mc.Model([a, b], L.Dense(3, activation="softmax")(L.Concatenate()([x, inner(b)])))


def test_seed_cnn_round_trip_keeps_predictions_optimizer_state_and_training(tmp_path):
    model = mc.applications.cifar10_cnn()
    model.compile(optimizer=mc.optimizers.Adam(3e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(IMAGES, LABELS, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations == 2
    assert loaded.optimizer.learning_rate == pytest.approx(3e-4)
    for a, b in zip(loaded.optimizer.slots_for(loaded.trainable_weights),
                    model.optimizer.slots_for(model.trainable_weights)):
        assert sorted(a) == sorted(b) == ["m", "v"]
        np.testing.assert_array_equal(a["m"], b["m"])
    more = [m.fit(IMAGES, LABELS, batch_size=8, epochs=1, verbose=0, shuffle=False).history for m in (model, loaded)]
    assert more[0] == more[1]
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_compile_false_gives_an_uncompiled_model(tmp_path):
    model = mc.applications.cifar10_cnn()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras", compile=False)
    assert loaded.optimizer is None
    np.testing.assert_array_equal(loaded.predict(IMAGES[:2], verbose=0), model.predict(IMAGES[:2], verbose=0))


@pytest.mark.parametrize("make, inputs", [
    (_two_inputs, [RNG.random((3, 8, 8, 3), dtype=np.float32), RNG.random((3, 5), dtype=np.float32)]),
    (lambda: Net(4), RNG.random((3, 5), dtype=np.float32)),
], ids=["two-input functional with a nested Sequential", "subclassed with a registered custom layer"])
def test_functional_nested_and_subclassed_models_round_trip(tmp_path, make, inputs):
    model = make()
    model(inputs)
    model.set_weights([RNG.uniform(0.5, 1.5, w.shape).astype("float32") for w in model.get_weights()])
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0))


def _one_of_each(layer_classes):
    """Every layer class minicnn exports, with arguments other than the defaults where it has any."""
    args = {"Conv2D": (3, 2), "Dense": (3,), "Activation": ("tanh",), "Dropout": (0.3,), "Reshape": ((4, -1),),
            "DepthwiseConv2D": (3,), "SeparableConv2D": (2, 3), "Rescaling": (0.5,), "Resizing": (4, 5),
            "RandomRotation": (0.1,), "RandomTranslation": (0.1, 0.2), "RandomZoom": (0.1,), "RandomContrast": (0.2,),
            "AveragePooling2D": (3,), "AvgPool2D": (3,), "Convolution2D": (3, 2), "InputLayer": ((4, 4, 3),),
            "Conv2DTranspose": (3, 2), "Convolution2DTranspose": (3, 2), "GaussianNoise": (0.1,),
            "SpatialDropout2D": (0.2,)}
    kwargs = {"Conv2D": {"kernel_initializer": "he_normal", "strides": 2}, "BatchNormalization": {"momentum": 0.9},
              "RandomFlip": {"mode": "horizontal", "seed": 3}, "ReLU": {"max_value": 6.0}, "Softmax": {"axis": 1},
              "ZeroPadding2D": {"padding": ((1, 2), (3, 4))}, "UpSampling2D": {"size": 3},
              "Conv2DTranspose": {"strides": 2, "output_padding": 1, "padding": "same"},
              "LeakyReLU": {"negative_slope": 0.1}, "SpatialDropout2D": {"seed": 5}}
    for name in layer_classes:
        cls = getattr(L, name)
        if isinstance(cls, type) and issubclass(cls, L.Layer) and cls is not L.Layer:
            yield name, cls(*args.get(name, ()), **kwargs.get(name, {}))


@pytest.mark.parametrize("name, layer", list(_one_of_each(L.__all__)), ids=lambda v: v if isinstance(v, str) else "")
def test_every_layer_comes_back_from_its_config(name, layer):
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    assert json.loads(json.dumps(mc.models.serialization.serialize_layer(layer)))["class_name"] == type(layer).__name__


def test_to_json_model_from_json_and_clone_model_keep_the_architecture_with_new_weights():
    model = _two_inputs()
    rebuilt = model_from_json(model.to_json())
    clone = clone_model(model)
    for other in (rebuilt, clone):
        assert other.get_config() == model.get_config()
        assert [w.shape for w in other.weights] == [w.shape for w in model.weights]
        assert not np.array_equal(other.weights[0].numpy(), model.weights[0].numpy())  # a new conv kernel
    clone.set_weights(model.get_weights())
    x = [RNG.random((2, 8, 8, 3), dtype=np.float32), RNG.random((2, 5), dtype=np.float32)]
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    sequential = mc.applications.cifar10_cnn()
    assert mc.Sequential.from_config(sequential.get_config()).get_config() == sequential.get_config()


def test_model_checkpoint_saves_the_whole_model_to_a_keras_file(tmp_path):
    model = mc.applications.cifar10_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(IMAGES, LABELS, batch_size=8, epochs=1, verbose=0,
              callbacks=[mc.callbacks.ModelCheckpoint(tmp_path / "best.keras", monitor="loss")])
    loaded = load_model(tmp_path / "best.keras")
    np.testing.assert_array_equal(loaded.predict(IMAGES[:2], verbose=0), model.predict(IMAGES[:2], verbose=0))


def _write_archive(path, config):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", b"")
        archive.writestr("metadata.json", "{}")


def test_a_file_that_would_run_code_or_names_unknown_classes_is_refused(tmp_path):
    entry = {"module": "keras", "class_name": "Sequential", "registered_name": None, "config": {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 3]}},
        {"module": "keras.layers", "class_name": "Lambda", "config": {"function": "print('hi')"}}]}}
    _write_archive(tmp_path / "lambda.keras", entry)
    with pytest.raises(ValueError, match="holds Python code. minicnn never runs code from a file"):
        load_model(tmp_path / "lambda.keras")
    entry["config"]["layers"][1] = {"module": None, "class_name": "Mystery", "registered_name": "x>Mystery",
                                    "config": {}}
    _write_archive(tmp_path / "unknown.keras", entry)
    with pytest.raises(ValueError, match="unknown class .*register_keras_serializable or pass custom_objects"):
        load_model(tmp_path / "unknown.keras")
    entry["config"]["layers"][1] = {"module": "keras.layers", "class_name": "Dense",
                                    "config": {"units": 2, "kernel_constraint": {"class_name": "RadialConstraint"}}}
    _write_archive(tmp_path / "constraint.keras", entry)
    with pytest.raises(ValueError, match="kernel_constraint .* is not a constraint minicnn has"):
        load_model(tmp_path / "constraint.keras")
    (tmp_path / "text.keras").write_text("not a zip")
    with pytest.raises(ValueError, match="is not a .keras file"):
        load_model(tmp_path / "text.keras")


def test_saving_what_a_file_cannot_hold_fails_before_writing_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.keras"
    good = mc.Sequential([mc.Input((3,)), L.Dense(2)])
    good.save(path)
    before = path.read_bytes()
    with_function = mc.Sequential([mc.Input((3,)), L.Dense(2, kernel_regularizer=lambda w: (w * w).sum())])
    with pytest.raises(ValueError, match="kernel_regularizer is <function"):
        with_function.save(path)

    class Unregistered(L.Layer):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="register it"):
        mc.Sequential([mc.Input((3,)), Unregistered()]).save(path)
    with pytest.raises(ValueError, match="must end in '.keras'"):
        good.save(tmp_path / "m.h5")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]
