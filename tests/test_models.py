"""Models end to end: the seed CNNs three ways (against real Keras), training,
evaluation, weights on disk, seeds and dtypes."""
import os

import numpy as np
import pytest

import minicnn as mc
from minicnn import backend, layers, utils
from minicnn.applications.seed_cnn import cifar10_cnn, tf_tutorial_cnn

SEED_COUNTS = [896, 0, 18_496, 0, 36_928, 0, 524_416, 1_290]
SEED_TYPES = ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dense", "Dense"]
NAMES = ["c1", "p1", "c2", "p2", "c3", "flat", "fc", "out"]


@pytest.fixture(scope="module")
def keras():
    """Real Keras 3 (TensorFlow backend), imported once for this module only."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("keras")


def seed_layers(lib, padding="same", dense=128, head="softmax", named=False):
    """The seed CNN's layers, built by ``lib`` (minicnn.layers or keras.layers)."""
    n = (lambda i: {"name": NAMES[i]}) if named else (lambda i: {})
    return [
        lib.Conv2D(32, (3, 3), padding=padding, activation="relu", **n(0)), lib.MaxPooling2D((2, 2), **n(1)),
        lib.Conv2D(64, (3, 3), padding=padding, activation="relu", **n(2)), lib.MaxPooling2D((2, 2), **n(3)),
        lib.Conv2D(64, (3, 3), padding=padding, activation="relu", **n(4)), lib.Flatten(**n(5)),
        lib.Dense(dense, activation="relu", **n(6)), lib.Dense(10, activation=head, **n(7)),
    ]


def functional(lib_input, lib_model, lib_layers, **kw):
    x = inp = lib_input((32, 32, 3), name="img")
    for layer in seed_layers(lib_layers, **kw):
        x = layer(x)
    return lib_model(inp, x, name="seed_cnn")


class SubclassedCNN(mc.Model):
    def __init__(self):
        super().__init__(name="subclassed_cnn")
        (self.conv1, self.pool1, self.conv2, self.pool2, self.conv3, self.flatten, self.dense1,
         self.dense2) = seed_layers(layers)

    def call(self, x):
        for layer in (self.conv1, self.pool1, self.conv2, self.pool2, self.conv3, self.flatten,
                      self.dense1, self.dense2):
            x = layer(x)
        return x


def summary_text(model):
    """The summary up to its totals, all Keras prints: the lines minicnn adds below
    them, on layers that run fused, are checked in tests/test_fused_groups.py."""
    lines = []
    model.summary(print_fn=lambda line, *a, **k: lines.append(line))
    lines = "\n".join(lines).strip("\n").split("\n")
    end = next(i for i, line in enumerate(lines) if line.startswith(" Non-trainable params:"))
    return "\n".join(lines[:end + 1])


# -- the seed CNN three ways ----------------------------------------------------------------
def test_sequential_seed_cnn_counts():
    model = cifar10_cnn()
    assert model.count_params() == 582_026
    assert [type(l).__name__ for l in model.layers] == SEED_TYPES  # no InputLayer
    assert [l.count_params() for l in model.layers] == SEED_COUNTS
    assert model.output_shape == (None, 10)


def test_functional_seed_cnn_counts():
    model = functional(mc.Input, mc.Model, layers)
    assert model.count_params() == 582_026
    assert type(model.layers[0]).__name__ == "InputLayer"  # as Keras 3's functional models
    assert [l.count_params() for l in model.layers[1:]] == SEED_COUNTS


def test_subclassed_seed_cnn_build_builds_every_sublayer():
    model = SubclassedCNN()
    assert not model.built
    model.build((None, 32, 32, 3))
    assert all(l.built for l in model.layers)
    assert model.count_params() == 582_026
    assert [l.count_params() for l in model.layers] == SEED_COUNTS
    assert model.predict(np.zeros((2, 32, 32, 3), "float32")).shape == (2, 10)


def test_tf_tutorial_cnn_counts():
    model = tf_tutorial_cnn()
    assert model.count_params() == 122_570
    assert [l.count_params() for l in model.layers] == [896, 0, 18_496, 0, 36_928, 0, 65_600, 650]
    assert model.layers[4].output_shape == (None, 4, 4, 64)


def test_build_then_call_does_not_rebuild():
    layer = layers.Dense(3)
    layer.build((None, 4))
    assert layer.built and layer.count_params() == 15
    before = layer.get_weights()
    layer(np.ones((2, 4), "float32"))
    assert len(layer.weights) == 2
    np.testing.assert_array_equal(layer.get_weights()[0], before[0])


# -- against real Keras -------------------------------------------------------------------------
@pytest.mark.parametrize("variant", [{}, {"padding": "valid", "dense": 64, "head": None}])
def test_sequential_summary_equals_keras(keras, variant):
    ours = mc.Sequential([mc.Input((32, 32, 3)), *seed_layers(layers, named=True, **variant)], name="seed_cnn")
    theirs = keras.Sequential([keras.Input((32, 32, 3)), *seed_layers(keras.layers, named=True, **variant)],
                              name="seed_cnn")
    assert summary_text(ours) == summary_text(theirs)


def test_functional_summary_equals_keras(keras):
    ours = functional(mc.Input, mc.Model, layers, named=True)
    theirs = functional(keras.Input, keras.Model, keras.layers, named=True)
    assert summary_text(ours) == summary_text(theirs)
    assert [type(l).__name__ for l in ours.layers] == [type(l).__name__ for l in theirs.layers]


def test_branching_model_summary_has_keras_connected_to_column(keras):
    """A model that branches and merges gets Keras' fourth column, "Connected to"."""
    def build(lib, inp, model):
        i = inp((8, 8, 3), name="img")
        x = lib.layers.Conv2D(4, 3, name="c1")(i)
        y = lib.layers.Conv2D(4, 3, padding="same", name="c2")(x)
        merged = lib.layers.Add(name="skip")([x, y])
        out = lib.layers.Dense(2, name="head")(lib.layers.Flatten(name="flat")(merged))
        return model(i, out, name="branchy")

    ours = summary_text(build(mc, mc.Input, mc.Model))
    assert ours == summary_text(build(keras, keras.Input, keras.Model))
    assert "Connected to" in ours
    assert "c1[0][0]," in ours


def test_summary_with_default_names_equals_keras(keras, monkeypatch):
    """With fresh name counters on both sides, default names and text agree exactly."""
    import collections

    from minicnn.layers import base

    keras.backend.clear_session()
    monkeypatch.setattr(base, "_name_counts", collections.Counter())
    ours = mc.Sequential([mc.Input((32, 32, 3)), *seed_layers(layers)])
    theirs = keras.Sequential([keras.Input((32, 32, 3)), *seed_layers(keras.layers)])
    assert summary_text(ours) == summary_text(theirs)


def test_summary_wraps_long_names_like_keras(keras):
    def build(lib, inp):
        return lib.Sequential([inp((6,)), lib.layers.Dense(3, name="a_rather_long_layer_name_that_must_wrap"),
                               lib.layers.Dense(2, name="x" * 40), lib.layers.Dense(2, name="name with spaces")],
                              name="wrapping")

    ours, theirs = summary_text(build(mc, mc.Input)), summary_text(build(keras, keras.Input))
    assert len(ours.splitlines()) > 12  # the names really wrapped
    assert ours == theirs


def test_subclassed_summary_matches_the_sequential_one():
    sub = SubclassedCNN()
    for layer, name in zip(sub.layers, NAMES):
        layer.name = name
    sub.build((None, 32, 32, 3))
    seq = mc.Sequential([mc.Input((32, 32, 3)), *seed_layers(layers, named=True)], name="subclassed_cnn")
    assert summary_text(sub) == summary_text(seq)
    assert " Total params: 582,026 (2.22 MB)" in summary_text(sub)


def test_weights_have_keras_order_and_shapes_and_transfer(keras):
    ours = mc.Sequential([mc.Input((32, 32, 3)), *seed_layers(layers)])
    theirs = keras.Sequential([keras.Input((32, 32, 3)), *seed_layers(keras.layers)])
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).random((4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-6)


# -- training -----------------------------------------------------------------------------------
def quadrant_task(n=320, seed=0):
    """8x8 noise images with one bright quadrant; the label is which one (chance: 25%)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.normal(0, 0.3, (n, 8, 8, 1)).astype("float32")
    for i, label in enumerate(y):
        r, c = divmod(int(label), 2)
        x[i, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 1.0
    return x, y


def small_cnn(classes=4):
    return mc.Sequential([mc.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(),
                          layers.Flatten(), layers.Dense(classes, activation="softmax")])


def test_fit_learns_a_synthetic_task_and_history_has_keras_keys():
    x, y = quadrant_task()
    model = small_cnn()
    model.compile(optimizer=mc.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=6, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 6 for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    x_test, y_test = quadrant_task(200, seed=1)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.9, f"test accuracy {accuracy:.2f} (chance is 0.25)"
    assert history.history["val_accuracy"][-1] > 0.9


def test_validation_split_takes_the_last_fraction_before_shuffling(monkeypatch):
    x = np.arange(20, dtype="float32").reshape(20, 1)  # each sample's value is its index
    y = np.zeros((20, 1), "float32")
    model = mc.Sequential([mc.Input((1,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seen = []
    original = type(model)._train_batch
    monkeypatch.setattr(type(model), "_train_batch",
                        lambda self, xb, yb: (seen.extend(np.asarray(xb)[:, 0].tolist()), original(self, xb, yb))[1])
    history = model.fit(x, y, batch_size=4, epochs=2, validation_split=0.25, shuffle=True, verbose=0)
    assert sorted(seen) == sorted(list(range(15)) * 2)  # never a validation sample
    assert seen[:15] != list(range(15)) or seen[15:] != list(range(15))  # but shuffled
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x[15:], y[15:], verbose=0), rel=1e-6)


class BatchSizeRecorder(layers.Layer):
    """Identity layer that records the batch size of every call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sizes = []

    def call(self, inputs):
        self.sizes.append(inputs.shape[0])
        return inputs


def test_predict_and_evaluate_are_batched():
    x, y = quadrant_task(23)
    recorder = BatchSizeRecorder()
    model = mc.Sequential([mc.Input((8, 8, 1)), recorder, layers.Flatten(), layers.Dense(4, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    recorder.sizes.clear()
    full = model.predict(x, batch_size=23)
    batched = model.predict(x, batch_size=5)
    assert recorder.sizes == [23, 5, 5, 5, 5, 3]
    np.testing.assert_allclose(batched, full, rtol=1e-6)
    recorder.sizes.clear()
    loss_batched, acc_batched = model.evaluate(x, y, batch_size=5, verbose=0)
    assert recorder.sizes == [5, 5, 5, 5, 3]
    loss_full, acc_full = model.evaluate(x, y, batch_size=23, verbose=0)
    assert loss_batched == pytest.approx(loss_full, rel=1e-5)  # uneven last batch weighted right
    assert acc_batched == pytest.approx(acc_full)
    p = np.clip(full[np.arange(23), y], 1e-7, 1)
    assert loss_full == pytest.approx(float(np.mean(-np.log(p))), rel=1e-5)


def test_train_on_batch_updates_and_lowers_the_loss():
    x, y = quadrant_task(32)
    model = small_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    losses = [model.train_on_batch(x, y)[0] for _ in range(15)]
    assert all(isinstance(v, float) for v in losses)
    assert losses[-1] < losses[0]
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    logs = model.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}


def test_learning_rate_is_settable_after_compile():
    x, y = quadrant_task(16)
    deltas = []
    for lr in (0.0, 0.1, 0.2):
        utils.set_random_seed(3)
        model = small_cnn()
        model.compile(optimizer=mc.optimizers.SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy")
        model.optimizer.learning_rate = lr
        before = model.get_weights()
        model.train_on_batch(x, y)
        deltas.append([a - b for a, b in zip(model.get_weights(), before)])
    assert all(not d.any() for d in deltas[0])  # lr 0: nothing moves
    assert any(d.any() for d in deltas[1])
    for d1, d2 in zip(deltas[1], deltas[2]):  # plain SGD: the step is proportional to lr
        np.testing.assert_allclose(d2, 2 * d1, rtol=1e-4, atol=1e-7)


# -- weights on disk ------------------------------------------------------------------------------
def named_cnn(dense_units=4):
    return mc.Sequential([mc.Input((8, 8, 1)), layers.Conv2D(3, 3, name="conv"), layers.Flatten(name="flat"),
                          layers.Dense(dense_units, name="head")])


def test_save_and_load_weights_round_trip(tmp_path):
    path = tmp_path / "model.weights.h5"
    a, b = named_cnn(), named_cnn()
    a.save_weights(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.weights.h5"]  # no temp file left
    b.load_weights(path)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    x = quadrant_task(4)[0]
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_loading_a_mismatched_file_names_the_weight_and_changes_nothing(tmp_path):
    path = tmp_path / "other.weights.h5"
    named_cnn(dense_units=5).save_weights(path)
    model = named_cnn(dense_units=4)
    before = model.get_weights()
    with pytest.raises(ValueError) as info:
        model.load_weights(path)
    message = str(info.value)
    assert "head" in message and "kernel" in message and "(108, 4)" in message and "(108, 5)" in message
    for w0, w1 in zip(before, model.get_weights()):  # not even the matching conv was loaded
        np.testing.assert_array_equal(w0, w1)


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    import h5py

    path = tmp_path / "model.weights.h5"
    old = named_cnn()
    old.save_weights(path)
    original_bytes = path.read_bytes()
    calls = []
    real = h5py.Group.create_dataset

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError, match="disk full"):
        named_cnn().save_weights(path)
    monkeypatch.undo()
    assert len(calls) == 3  # it failed part-way through
    assert [p.name for p in tmp_path.iterdir()] == ["model.weights.h5"]  # temp file cleaned up
    assert path.read_bytes() == original_bytes
    fresh = named_cnn()
    fresh.load_weights(path)
    for w0, w1 in zip(old.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(w0, w1)


# -- seeds and dtypes -------------------------------------------------------------------------------
def test_set_random_seed_makes_runs_repeatable():
    x, y = quadrant_task(64)

    def run():
        utils.set_random_seed(42)
        model = mc.Sequential([mc.Input((8, 8, 1)), layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
                               layers.Dropout(0.3), layers.Dense(4, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        return model.get_weights(), history.history["loss"]

    (w1, l1), (w2, l2) = run(), run()
    assert l1 == l2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    utils.set_random_seed(43)
    assert not np.array_equal(small_cnn().get_weights()[0], w1[0])


def test_float64_is_selectable(float64):
    assert backend.floatx() == "float64"
    model = small_cnn()
    assert all(w.dtype == np.float64 for w in model.get_weights())
    x, y = quadrant_task(8)
    assert model.predict(x).dtype == np.float64
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert np.isfinite(model.train_on_batch(x, y))


def test_a_layer_keeps_the_dtype_it_was_made_with():
    """As in Keras, set_floatx affects layers made afterwards, not existing ones."""
    dense = layers.Dense(2)
    backend.set_floatx("float64")
    try:
        out = dense(np.ones((1, 3)))
        assert dense.dtype == "float32" and out.dtype == np.float32
        assert layers.Dense(2).dtype == "float64"
    finally:
        backend.set_floatx("float32")


def test_float32_is_the_default():
    assert backend.floatx() == "float32"
    assert small_cnn().get_weights()[0].dtype == np.float32
