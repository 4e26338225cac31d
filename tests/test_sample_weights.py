"""sample_weight and class_weight in fit and evaluate, compared with Keras from the same weights.

Keras' reduction: the batch loss is Σ wᵢ·lossᵢ / N (not / Σ wᵢ), compiled
metrics stay unweighted, and sample_weight and class_weight together are refused.
"""
import numpy as np
import pytest

import minicnn as mc

keras = pytest.importorskip("keras")

RNG = np.random.default_rng(3)
X = RNG.standard_normal((30, 4)).astype("float32")
Y = RNG.integers(0, 3, 30)
SW = RNG.random(30).astype("float32") * 2
CW = {0: 1.0, 1: 3.0, 2: 0.5}


def pair():
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    ours = mc.Sequential([mc.Input((4,)), mc.layers.Dense(3, activation="softmax")])
    ours.set_weights(theirs.get_weights())
    theirs.compile(optimizer=keras.optimizers.SGD(0.2), loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"], jit_compile=False)
    ours.compile(optimizer=mc.optimizers.SGD(0.2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return ours, theirs


@pytest.mark.parametrize("weights", [{"sample_weight": SW}, {"class_weight": CW}], ids=["sample", "class"])
def test_weighted_training_follows_keras(weights):
    ours, theirs = pair()
    h_ours = ours.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0, **weights).history
    h_theirs = theirs.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0, **weights).history
    np.testing.assert_allclose(h_ours["loss"], h_theirs["loss"], rtol=2e-5)
    np.testing.assert_allclose(h_ours["accuracy"], h_theirs["accuracy"])
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


def test_weighted_evaluation_follows_keras():
    ours, theirs = pair()
    loss_ours, acc_ours = ours.evaluate(X, Y, sample_weight=SW, batch_size=8, verbose=0)
    loss_theirs, acc_theirs = theirs.evaluate(X, Y, sample_weight=SW, batch_size=8, verbose=0)
    assert loss_ours == pytest.approx(loss_theirs, rel=1e-5)
    assert acc_ours == pytest.approx(acc_theirs)  # compiled metrics are not weighted


def test_bad_weights_are_clear_errors():
    ours, _ = pair()
    with pytest.raises(ValueError, match=r"one weight per sample, shape \(30,\)"):
        ours.fit(X, Y, sample_weight=SW[:10], verbose=0)
    with pytest.raises(ValueError, match=r"no weight for class\(es\) \[2\]"):
        ours.fit(X, Y, class_weight={0: 1.0, 1: 2.0}, verbose=0)
    with pytest.raises(ValueError, match="not both"):
        ours.fit(X, Y, sample_weight=SW, class_weight=CW, verbose=0)


def test_a_metric_object_compiles_under_its_own_name():
    """TensorFlow's transfer-learning tutorial compiles a logits model with
    BinaryAccuracy(threshold=0.0, name="accuracy"); the logs then say 'accuracy'."""
    model = mc.Sequential([mc.Input((4,)), mc.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=mc.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[mc.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])
    y = (X[:, 0] > 0).astype("float32")[:, None]
    history = model.fit(X, y, epochs=1, verbose=0).history
    assert set(history) == {"loss", "accuracy"}
    logits = model.predict(X)
    assert model.evaluate(X, y, verbose=0, return_dict=True)["accuracy"] == pytest.approx(((logits > 0) == y).mean())


@pytest.mark.parametrize("call, message", [
    (lambda m: m.fit(X, Y, steps_per_epoch=0, verbose=0), "steps_per_epoch must be a positive integer"),
    (lambda m: m.fit(X, Y, epochs=2, initial_epoch=3, verbose=0), "initial_epoch must be between 0 and epochs=2"),
    (lambda m: m.fit(X, np.array(["cat"] * 30), verbose=0), "y must hold numbers, got <U3"),
    (lambda m: m.predict(3.0), "x must be an array with a batch axis"),
])
def test_small_data_mistakes_are_clear_errors(call, message):
    ours, _ = pair()
    with pytest.raises(ValueError, match=message):
        call(ours)


def test_a_negative_learning_rate_is_refused():
    with pytest.raises(ValueError, match="learning_rate must be >= 0"):
        mc.optimizers.Adam(-1.0)
    with pytest.raises(ValueError, match="learning_rate must be >= 0"):
        mc.optimizers.SGD().learning_rate = float("nan")


def test_weighted_metrics_follow_sample_weight_as_keras(tmp_path):
    """compile(weighted_metrics=...): the same metric weighted by sample_weight (named
    'weighted_accuracy' beside a plain 'accuracy'), equal to Keras' numbers; kept in .keras files."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 4)).astype("float32")
    y = rng.integers(0, 3, 16)
    w = np.linspace(0.0, 2.0, 16).astype("float32")
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    m_model = mc.Sequential([mc.Input((4,)), mc.layers.Dense(3, activation="softmax")])
    m_model.set_weights(k_model.get_weights())
    for model in (k_model, m_model):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      weighted_metrics=["accuracy"])
    want = k_model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    got = m_model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    assert set(got) == set(want) == {"loss", "accuracy", "weighted_accuracy"}
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-5), name
    assert got["weighted_accuracy"] != pytest.approx(got["accuracy"])  # the weights matter here
    history = m_model.fit(x, y, sample_weight=w, epochs=1, verbose=0, shuffle=False)
    assert "weighted_accuracy" in history.history
    m_model.save(tmp_path / "m.keras")
    again = mc.models.load_model(tmp_path / "m.keras")
    assert again.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True) == pytest.approx(
        m_model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True))
