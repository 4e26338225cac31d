"""Weights cross between the libraries: .weights.h5 files both ways, and interop.

* Keras ``save_weights`` -> minicnn ``load_weights``: same weights, same predictions.
* minicnn ``save_weights`` -> Keras ``load_weights``: the same.
* Nested models (a functional model inside a Sequential) in both directions.
* ``minicnn.interop.to_keras`` / ``from_keras`` rebuild the model with its weights.
The Keras models are built second in the process on purpose: their layer names
(``conv2d_7`` ...) then differ from minicnn's, and files must still match
(Keras addresses layers by class and position, not by name).
"""
from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import pytest

import minicnn as mc
from minicnn import interop

from .harness import Row, keras_modules
from .reference_models import branchy, keras_cifar10_cnn, keras_tf_tutorial_cnn


def _nested(lib):
    return lib.Sequential([lib.Input((12, 10, 3)), branchy(lib), lib.layers.Dense(2)])


MODELS = {  # row: (minicnn builder, Keras builder, input shape)
    "cifar10_cnn": (mc.applications.cifar10_cnn, keras_cifar10_cnn, (32, 32, 3)),
    "tf_tutorial_cnn": (mc.applications.tf_tutorial_cnn, keras_tf_tutorial_cnn, (32, 32, 3)),
    "functional (Add, Concatenate)": (lambda: branchy(mc), lambda: branchy(keras_modules()[0]), (12, 10, 3)),
    "nested (functional in Sequential)": (lambda: _nested(mc), lambda: _nested(keras_modules()[0]), (12, 10, 3)),
}


def _randomize(model, rng):
    model.set_weights([rng.uniform(-0.3, 0.3, w.shape).astype("float32") for w in model.get_weights()])


def _same_model(stats, what, m_model, k_model, x):
    m_w, k_w = m_model.get_weights(), k_model.get_weights()
    stats.equal(f"{what}: number of weights", len(m_w), len(k_w))
    for i, (a, b) in enumerate(zip(m_w, k_w)):
        stats.compare(f"{what}: weight {i}", a, b, "float32")
    stats.compare(f"{what}: predictions", m_model.predict(x, verbose=0), k_model.predict(x, verbose=0), "float32")


def _interchange_check(label):
    make_mc, make_keras, shape = MODELS[label]

    def check(_, stats):
        with tempfile.TemporaryDirectory(prefix="parity-weights-") as folder:
            _round_trips(stats, pathlib.Path(folder))

    def _round_trips(stats, tmp):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((3, *shape)).astype("float32")
        m_model, k_model = make_mc(), make_keras()
        # Keras -> minicnn through a file
        _randomize(k_model, rng)
        k_model.save_weights(str(tmp / "keras.weights.h5"))
        m_model.load_weights(tmp / "keras.weights.h5")
        _same_model(stats, "Keras file read by minicnn", m_model, k_model, x)
        # minicnn -> Keras through a file
        _randomize(m_model, rng)
        m_model.save_weights(tmp / "minicnn.weights.h5")
        k_model.load_weights(str(tmp / "minicnn.weights.h5"))
        _same_model(stats, "minicnn file read by Keras", m_model, k_model, x)
        # interop: rebuild on the other side, weights included, and back
        _same_model(stats, "to_keras", m_model, interop.to_keras(m_model), x)
        _same_model(stats, "from_keras", interop.from_keras(k_model), k_model, x)
    return check


ROWS = [Row("weights", f"interchange: {label}", _interchange_check(label), [None])
        for label in MODELS]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_weights_cross_between_libraries(row):
    row.run()
