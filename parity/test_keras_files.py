"""Whole-model ``.keras`` files cross between the libraries, both ways.

For each model, built independently in each library:

* minicnn -> Keras: minicnn trains one step (so the optimizer has state), saves
  ``m.keras``; ``keras.models.load_model`` opens it: same class, weights,
  predictions, optimizer step count, and the next training step gives the same
  loss and weights as minicnn's next step.
* Keras -> minicnn: the same the other way round.

Models: the seed CIFAR-10 CNN, a two-input functional model, a nested model
(a functional model and a Sequential inside a functional one), a subclassed model
holding a registered custom layer (the same registered names in both
libraries), and one model holding every layer minicnn has.
"""
from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import pytest

import minicnn as mc

from .harness import Row, keras_modules
from .reference_models import keras_cifar10_cnn


def _two_inputs(lib):
    L = lib.layers
    a, b = lib.Input((8, 8, 3), name="image"), lib.Input((5,), name="extra")
    x = L.GlobalAveragePooling2D()(L.BatchNormalization()(L.Conv2D(4, 3, padding="same", activation="relu")(a)))
    return lib.Model([a, b], L.Dense(3, activation="softmax")(L.Concatenate()([x, L.Dense(4, activation="relu")(b)])))


def _nested(lib):
    L = lib.layers
    inner_in = lib.Input((6,))
    inner = lib.Model(inner_in, L.Dense(4, activation="relu")(inner_in), name="inner_functional")
    head = lib.Sequential([lib.Input((4,)), L.Dense(3, activation="softmax")], name="inner_sequential")
    x = lib.Input((6,))
    return lib.Model(x, head(inner(x)))


def _every_layer(lib):
    """Every layer class minicnn has, in one graph (the Random* ones are identity at inference)."""
    L = lib.layers
    x = lib.Input((12, 12, 3))
    a = L.Rescaling(1 / 127.5, offset=-1)(x)
    a = L.RandomFlip("horizontal", seed=1)(a)
    a = L.RandomRotation(0.1, fill_mode="nearest", seed=2)(a)
    a = L.RandomTranslation(0.1, 0.2, seed=3)(a)
    a = L.RandomZoom(0.1, seed=4)(a)
    a = L.Cropping2D(((1, 0), (0, 1)))(L.ZeroPadding2D(1)(L.Resizing(16, 16)(a)))
    a = L.ReLU(max_value=6.0)(L.BatchNormalization(momentum=0.9)(L.Conv2D(4, 3, strides=2, padding="same")(a)))
    b = L.SeparableConv2D(4, 3, padding="same", activation="relu")(L.DepthwiseConv2D(3, padding="same",
                                                                                      depth_multiplier=2)(a))
    s = L.Add()([a, L.SpatialDropout2D(0.1, seed=5)(b)])
    m = L.Multiply()([s, L.Activation("sigmoid")(s)])
    m = L.Average()([L.Maximum()([m, s]), L.Minimum()([m, s]), L.Subtract()([m, s])])
    c = L.UpSampling2D(2)(L.Concatenate()([L.MaxPooling2D(2)(m), L.AveragePooling2D(2)(m)]))
    c = L.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1)(c)
    g = L.GaussianNoise(0.1, seed=6)(L.Concatenate()([L.GlobalAveragePooling2D()(c), L.GlobalMaxPooling2D()(c)]))
    f = L.Dropout(0.2)(L.Flatten()(L.Reshape((2, 4))(L.LeakyReLU()(L.Dense(8)(g)))))
    return lib.Model(x, L.Softmax()(L.Dense(3)(f)))


def _subclassed_classes(lib, register):
    """A custom layer and a subclassed model, registered as 'parity>Scale' / 'parity>Net' in ``lib``."""
    @register(package="parity")
    class Scale(lib.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

        def call(self, x):
            return x * self.w * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    @register(package="parity")
    class Net(lib.Model):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.hidden, self.scale, self.head = lib.layers.Dense(units, activation="relu"), Scale(1.5), \
                lib.layers.Dense(3, activation="softmax")

        def call(self, x):
            return self.head(self.scale(self.hidden(x)))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return Net


_NETS = {}


def _subclassed(lib):
    """The subclassed model, its classes registered in both libraries (a file names them)."""
    if not _NETS:
        keras, _ = keras_modules()
        _NETS[mc] = _subclassed_classes(mc, mc.models.register_keras_serializable)
        _NETS[keras] = _subclassed_classes(keras, keras.saving.register_keras_serializable)
    model = _NETS[lib](4)
    model(np.zeros((1, 5), "float32"))  # builds every sublayer (Keras warns on build() for a subclassed model)
    return model


def _data(rng, *shapes):
    x = [rng.uniform(0, 1, (4, *s)).astype("float32") for s in shapes]
    return (x if len(x) > 1 else x[0]), rng.integers(0, 3, 4)


MODELS = {  # row: (builder taking keras or minicnn, input shapes, whether a training step is deterministic)
    "seed CIFAR-10 CNN": (lambda lib: mc.applications.cifar10_cnn() if lib is mc else keras_cifar10_cnn(),
                          [(32, 32, 3)], True),
    "two-input functional": (_two_inputs, [(8, 8, 3), (5,)], True),
    "nested (functional, Sequential)": (_nested, [(6,)], True),
    "subclassed + registered custom layer": (_subclassed, [(5,)], True),
    # Dropout, the noise layers and the Random* layers draw different random numbers in the two libraries
    "one of every layer": (_every_layer, [(12, 12, 3)], False),
}


def _randomize(model, rng):
    """Random weights (BatchNorm variances positive), so a mix-up between two weights shows."""
    model.set_weights([rng.uniform(0.5, 1.5, np.shape(w)) if "variance" in v.name else rng.uniform(-1, 1, np.shape(w))
                       for w, v in zip(model.get_weights(), model.weights)])


def _train_step(model, x, y):
    model.fit(x, y, batch_size=len(y), epochs=1, verbose=0, shuffle=False)


def _same(stats, what, m_model, k_model, x, y, deterministic):
    m_w, k_w = m_model.get_weights(), k_model.get_weights()
    stats.equal(f"{what}: number of weights", len(m_w), len(k_w))
    for i, (a, b) in enumerate(zip(m_w, k_w)):
        stats.compare(f"{what}: weight {i}", a, b, "float32")
    stats.compare(f"{what}: predictions", m_model.predict(x, verbose=0), k_model.predict(x, verbose=0), "float32")
    stats.equal(f"{what}: optimizer steps", int(m_model.optimizer.iterations), int(k_model.optimizer.iterations))
    if not deterministic:
        return
    # the next step starts from the saved optimizer state in both libraries
    losses = [model.fit(x, y, batch_size=len(y), epochs=1, verbose=0, shuffle=False).history["loss"][0]
              for model in (m_model, k_model)]
    stats.compare(f"{what}: loss of the next training step", losses[0], losses[1], "float32", kind="steps")
    for i, (a, b) in enumerate(zip(m_model.get_weights(), k_model.get_weights())):
        stats.compare(f"{what}: weight {i} after the next step", a, b, "float32", kind="steps")


def _file_check(label, direction):
    build, shapes, deterministic = MODELS[label]

    def check(_, stats):
        keras, _tf = keras_modules()
        rng = np.random.default_rng(0)
        x, y = _data(rng, *shapes)
        with tempfile.TemporaryDirectory(prefix="parity-keras-files-") as folder:
            path = str(pathlib.Path(folder) / "m.keras")
            source = build(mc if direction == "minicnn -> Keras" else keras)
            _randomize(source, rng)
            source.compile(optimizer=(mc if direction == "minicnn -> Keras" else keras).optimizers.Adam(1e-2),
                           loss="sparse_categorical_crossentropy")
            _train_step(source, x, y)
            source.save(path)
            if direction == "minicnn -> Keras":
                m_model, k_model = source, keras.models.load_model(path)
            else:
                m_model, k_model = mc.models.load_model(path), source
            stats.equal(f"{label}: class of the loaded model", type(m_model).__name__.replace("Model", "Functional"),
                        type(k_model).__name__)
            _same(stats, f"{label} ({direction})", m_model, k_model, x, y, deterministic)
    return check


ROWS = [Row("files", f".keras {direction}: {label}", _file_check(label, direction), [None])
        for label in MODELS for direction in ("minicnn -> Keras", "Keras -> minicnn")]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_keras_files_cross_between_libraries(row):
    row.run()
