"""Whole models: same weights -> same predictions; 20 training steps -> same weights and losses.

The seed CNNs are built in minicnn (``minicnn.applications``) and, independently,
in Keras (``reference_models``). Keras' weights are copied into minicnn and both
predict the same batch (float32 and float64). Then, in float64, both train with
the same optimizer (Adam, the seed's), ``shuffle=False`` and the same batches:
5 epochs of 4 batches of 8 = 20 steps; the per-epoch loss history and every
final weight must agree to 1e-9.

Why float64 for training: in float32 the two libraries' rounding (different
summation orders) differs by ~1e-7, and Adam turns a gradient that is tiny
and noisy into a full step of size lr in whichever direction the noise points;
after 20 steps the float32 weights differ by ~1e-3 relative although the
arithmetic is the same (float64 agrees to 1e-14). Adam's betas are 0.875 and
1 - 2**-10 because Keras rounds them to float32 (see DIFFERENCES.md).

A two-output functional model (softmax 'cls', linear 'reg') trains with a loss,
a loss weight and metrics per output, dict targets and sample weights (SGD,
float64, full batches): each per-output log of each epoch, evaluate's list in
Keras' order and the trained weights must agree to 1e-9.
"""
from __future__ import annotations

import numpy as np
import pytest

import minicnn as mc

from .harness import Row, floatx, keras_modules
from .reference_models import keras_cifar10_cnn, keras_tf_tutorial_cnn

MODELS = {  # row: (minicnn builder, Keras builder, loss)
    "cifar10_cnn": (mc.applications.cifar10_cnn, keras_cifar10_cnn, "SparseCategoricalCrossentropy", {}),
    "tf_tutorial_cnn": (mc.applications.tf_tutorial_cnn, keras_tf_tutorial_cnn, "SparseCategoricalCrossentropy",
                        {"from_logits": True}),
}
EPOCHS, BATCHES, BATCH_SIZE = 5, 4, 8


def _model_check(label):
    make_mc, make_keras, loss, loss_kwargs = MODELS[label]

    def check(seed, stats):
        rng = np.random.default_rng(seed)
        n = BATCHES * BATCH_SIZE
        x = rng.uniform(0, 1, (n, 32, 32, 3))
        y = rng.integers(0, 10, n)
        for dtype in ("float32", "float64"):
            with floatx(dtype):
                _predict_and_train(stats, make_mc(), make_keras(), x.astype(dtype), y, dtype, loss, loss_kwargs)
    return check


def _predict_and_train(stats, m_model, k_model, x, y, dtype, loss, loss_kwargs):
    keras, _ = keras_modules()
    m_model.set_weights(k_model.get_weights())
    stats.equal("count_params", m_model.count_params(), k_model.count_params())
    stats.compare("predictions", m_model.predict(x, verbose=0), k_model.predict(x, verbose=0), dtype)
    if dtype != "float64":
        return
    adam = {"learning_rate": 2**-10, "beta_1": 0.875, "beta_2": 1 - 2**-10}
    k_model.compile(optimizer=keras.optimizers.Adam(**adam), loss=getattr(keras.losses, loss)(**loss_kwargs),
                    jit_compile=False)
    m_model.compile(optimizer=mc.optimizers.Adam(**adam), loss=getattr(mc.losses, loss)(**loss_kwargs))
    k_hist = k_model.fit(x, y, batch_size=BATCH_SIZE, epochs=EPOCHS, shuffle=False, verbose=0).history
    m_hist = m_model.fit(x, y, batch_size=BATCH_SIZE, epochs=EPOCHS, shuffle=False, verbose=0).history
    stats.compare("loss history (per epoch)", m_hist["loss"], k_hist["loss"], dtype)
    for i, (a, b) in enumerate(zip(m_model.get_weights(), k_model.get_weights())):
        stats.compare(f"weight {i} after {EPOCHS * BATCHES} steps", a, b, dtype, "steps")


def _two_output_model(lib, as_dict=False):
    """Heads 'cls' and 'reg' as a list, or as a dict {'reg': ..., 'cls': ...} of layers named otherwise."""
    x = lib.Input((6,), name="x")
    hidden = lib.layers.Dense(8, activation="relu")(x)
    cls = lib.layers.Dense(4, activation="softmax", name="c" if as_dict else "cls")(hidden)
    reg = lib.layers.Dense(2, name="r" if as_dict else "reg")(hidden)
    return lib.Model(x, {"reg": reg, "cls": cls} if as_dict else [cls, reg])


def _two_output_check(case, stats):
    """A loss, weight and metrics per output, the targets as a dict, sample weights: every
    log of every epoch, evaluate's list (Keras' order) and the trained weights (float64).
    ``per_output``: each output its own sample weights (a dict) and weighted metrics,
    on a model whose outputs are a dict (then predict's dicts are compared too)."""
    seed, per_output = case
    keras, _ = keras_modules()
    rng = np.random.default_rng(seed)
    n = BATCHES * BATCH_SIZE
    x, y_cls, y_reg, weights = (rng.standard_normal((n, 6)), rng.integers(0, 4, n), rng.standard_normal((n, 2)),
                                rng.uniform(0.2, 2.0, n))
    args = {"loss": {"cls": "sparse_categorical_crossentropy", "reg": "mse"}, "loss_weights": {"cls": 1.0, "reg": 0.5},
            "metrics": {"cls": ["accuracy"], "reg": ["mae"]}}
    fit = {"batch_size": BATCH_SIZE, "epochs": EPOCHS, "shuffle": False, "verbose": 0, "sample_weight": weights}
    k_targets, m_weights = [y_cls, y_reg], weights
    if per_output:  # Keras takes targets and weights as dicts for a dict model; minicnn a dict or a list
        args["weighted_metrics"] = {"cls": ["accuracy"], "reg": ["mae", "mse"]}
        m_weights = [weights, rng.uniform(0.0, 3.0, n)]
        fit["sample_weight"] = dict(zip(["cls", "reg"], m_weights))
        k_targets = {"cls": y_cls, "reg": y_reg}
    with floatx("float64"):
        m_model, k_model = _two_output_model(mc, per_output), _two_output_model(keras, per_output)
        m_model.set_weights(k_model.get_weights())
        k_model.compile(optimizer=keras.optimizers.SGD(0.05), jit_compile=False, **args)
        m_model.compile(optimizer=mc.optimizers.SGD(0.05), **args)
        k_hist = k_model.fit(x, k_targets, **fit).history
        m_hist = m_model.fit(x, {"cls": y_cls, "reg": y_reg}, **{**fit, "sample_weight": m_weights}).history
        stats.equal("history keys", sorted(m_hist), sorted(k_hist))
        for key in sorted(k_hist):
            stats.compare(f"{key} history (per epoch)", m_hist[key], k_hist[key], "float64")
        stats.compare("evaluate list (loss, each output's loss, metrics by name)",
                      m_model.evaluate(x, [y_cls, y_reg], sample_weight=m_weights, verbose=0),
                      k_model.evaluate(x, k_targets, sample_weight=fit["sample_weight"], verbose=0), "float64")
        for i, (a, b) in enumerate(zip(m_model.get_weights(), k_model.get_weights())):
            stats.compare(f"weight {i} after {EPOCHS * BATCHES} steps", a, b, "float64", "steps")
        if per_output:
            m_pred, k_pred = m_model.predict(x), k_model.predict(x, verbose=0)
            stats.equal("predict's keys, in the model's order", list(m_pred), list(k_pred))
            for key in k_pred:
                stats.compare(f"predict['{key}']", m_pred[key], k_pred[key], "float64")


ROWS = [Row("models", f"{label}: predict (float32, float64), {EPOCHS * BATCHES} Adam steps (float64)",
            _model_check(label), [0]) for label in MODELS]
ROWS.append(Row("models", f"two outputs, a loss/weight/metrics each, sample weights: {EPOCHS * BATCHES} SGD steps "
                "(float64)", _two_output_check, [(0, False), (1, False)]))
ROWS.append(Row("models", "two outputs as a dict, sample weights and weighted metrics per output: "
                f"{EPOCHS * BATCHES} SGD steps (float64)", _two_output_check, [(0, True), (1, True)]))


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_model_trains_like_keras(row):
    row.run()
