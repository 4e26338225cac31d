"""Bad input gets a clear error that says what is wrong, never a deep traceback
or silent nonsense. Each test checks what the message tells the user."""
import re
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import backend, layers
from minicnn.applications.seed_cnn import cifar10_cnn


@pytest.fixture
def compiled():
    model = mc.Sequential([mc.Input((8, 8, 1)), layers.Conv2D(2, 3, name="conv"), layers.Flatten(),
                           layers.Dense(3, activation="softmax", name="probs")], name="net")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


X = np.zeros((6, 8, 8, 1), "float32")
Y = np.array([0, 1, 2, 0, 1, 2])


# -- wrong input rank / shape -----------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 32, 32), (2, 28, 28, 3), (2, 32, 32, 1)])
def test_model_input_of_wrong_shape(shape):
    model = cifar10_cnn(name="seed")
    with pytest.raises(ValueError) as info:
        model.predict(np.zeros(shape, "float32"))
    message = str(info.value)
    assert "'seed'" in message and str(shape) in message and "(None, 32, 32, 3)" in message


def test_conv_layer_with_wrong_channel_count():
    conv = layers.Conv2D(4, 3, name="my_conv")
    conv(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError) as info:
        conv(np.zeros((1, 8, 8, 2), "float32"))
    message = str(info.value)
    assert "'my_conv'" in message and "Conv2D" in message
    assert "(1, 8, 8, 2)" in message and "(None, None, None, 3)" in message


@pytest.mark.parametrize("make, shape, want", [
    (lambda: layers.Conv2D(4, 3, name="rank_conv"), (8, 8, 3), "(None, None, None, None)"),
    (lambda: layers.MaxPooling2D(name="rank_pool"), (2, 8, 8), "(None, None, None, None)"),
    (lambda: layers.GlobalAveragePooling2D(name="rank_gap"), (2, 8), "(None, None, None, None)"),
    (lambda: layers.Dense(2, name="rank_dense"), (4,), "rank >= 2"),
])
def test_layer_input_of_wrong_rank(make, shape, want):
    layer = make()
    with pytest.raises(ValueError) as info:
        layer(np.zeros(shape, "float32"))
    message = str(info.value)
    assert f"'{layer.name}'" in message and str(shape) in message and want in message


def test_data_of_a_new_shape_after_building_from_data():
    """No Input: the first batch builds the model and fixes its input shape."""
    model = mc.Sequential([layers.Conv2D(4, 3, padding="same"), layers.Flatten(), layers.Dense(2)], name="lazy")
    model.predict(np.zeros((1, 32, 32, 3), "float32"))
    with pytest.raises(ValueError) as info:
        model.predict(np.zeros((1, 28, 28, 3), "float32"))
    message = str(info.value)
    assert "'lazy'" in message and "(None, 32, 32, 3)" in message and "(1, 28, 28, 3)" in message


def test_functional_graph_with_incompatible_layer():
    dense = layers.Dense(3, name="shared_dense")
    dense(mc.Input((4,)))
    with pytest.raises(ValueError) as info:
        dense(mc.Input((5,)))
    message = str(info.value)
    assert "'shared_dense'" in message and "(None, 5)" in message and "(None, 4)" in message


def test_reshape_that_cannot_fit():
    with pytest.raises(ValueError) as info:
        layers.Reshape((5, 5), name="rs")(np.zeros((2, 3, 4), "float32"))
    message = str(info.value)
    assert "'rs'" in message and "(None, 3, 4)" in message and "(5, 5)" in message and "12" in message


def test_merge_of_different_shapes():
    with pytest.raises(ValueError) as info:
        layers.Add(name="plus")([np.zeros((2, 3), "float32"), np.zeros((2, 4), "float32")])
    message = str(info.value)
    assert "'plus'" in message and "(2, 3)" in message and "(2, 4)" in message


# -- window larger than its (padded) input ---------------------------------------------------------------
@pytest.mark.parametrize("make, size, result", [
    (lambda: layers.Conv2D(2, 5, name="big_kernel"), (4, 4), "0x0"),
    (lambda: layers.Conv2D(2, 3, dilation_rate=3, name="dilated"), (6, 9), "0x3"),
    (lambda: layers.MaxPooling2D(3, name="big_pool"), (2, 2), "0x0"),
    (lambda: layers.AveragePooling2D((3, 3), strides=1, name="avg_pool"), (5, 2), "3x0"),
])
def test_window_larger_than_input(make, size, result):
    for symbolic in (False, True):
        layer = make()
        with pytest.raises(ValueError) as info:
            if symbolic:
                mc.Sequential([mc.Input((*size, 1)), layer])
            else:
                layer(np.zeros((1, *size, 1), "float32"))
        message = str(info.value)
        assert f"'{layer.name}'" in message
        assert "N_out = floor((N + 2p - k)/s) + 1" in message and f"gives {result}" in message
        assert f"{size[0]}x{size[1]} input" in message


# -- unknown names list the valid ones --------------------------------------------------------------------
def _valid_list(message):
    found = re.search(r"Valid names: \[(.*)\]", message)
    assert found, message
    return {name.strip(" '") for name in found.group(1).split(",")}


def test_unknown_optimizer(compiled):
    with pytest.raises(ValueError) as info:
        compiled.compile(optimizer="adamm", loss="mse")
    assert "'adamm'" in str(info.value)
    assert {"adam", "sgd", "rmsprop", "adamw"} <= _valid_list(str(info.value))


def test_unknown_loss(compiled):
    with pytest.raises(ValueError) as info:
        compiled.compile(optimizer="adam", loss="crossentropy")
    assert "'crossentropy'" in str(info.value)
    assert {"sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
            "mean_squared_error"} <= _valid_list(str(info.value))


@pytest.mark.parametrize("make", [lambda: layers.Dense(3, activation="relu7"),
                                  lambda: layers.Conv2D(3, 3, activation="relu7"),
                                  lambda: layers.Activation("relu7")])
def test_unknown_activation(make):
    with pytest.raises(ValueError) as info:
        make()
    assert "'relu7'" in str(info.value)
    assert {"relu", "sigmoid", "tanh", "softmax", "linear", "relu6", "leaky_relu", "elu",
            "gelu"} <= _valid_list(str(info.value))


def test_unknown_metric(compiled):
    with pytest.raises(ValueError) as info:
        compiled.compile(optimizer="adam", loss="mse", metrics=["acuracy"])
    assert "'acuracy'" in str(info.value) and "accuracy" in _valid_list(str(info.value))


def test_unknown_padding():
    with pytest.raises(ValueError, match=r"padding must be 'valid' or 'same', got 'full'"):
        layers.Conv2D(2, 3, padding="full")


# -- data mistakes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [3, -1])
def test_sparse_labels_outside_the_classes(compiled, bad):
    y = Y.copy()
    y[2] = bad
    for run in (lambda: compiled.fit(X, y, verbose=0), lambda: compiled.evaluate(X, y, verbose=0),
                lambda: compiled.train_on_batch(X, y)):
        with pytest.raises(ValueError) as info:
            run()
        message = str(info.value)
        assert "[0, 3)" in message and str(bad) in message


def test_fit_checks_label_range_before_training(compiled):
    """A bad label late in the data is caught before the first step changes any weight
    (on a GPU the per-batch loss does not read labels back, so this check is the guard)."""
    y = np.concatenate([Y] * 4)
    y[-1] = 7
    before = compiled.get_weights()
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        compiled.fit(np.concatenate([X] * 4), y, batch_size=6, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, compiled.get_weights()))


def test_x_and_y_of_different_lengths(compiled):
    for who, run in (("fit", lambda: compiled.fit(X, Y[:5], verbose=0)),
                     ("evaluate", lambda: compiled.evaluate(X, Y[:5], verbose=0)),
                     ("train_on_batch", lambda: compiled.train_on_batch(X, Y[:5])),
                     ("validation_data", lambda: compiled.fit(X, Y, validation_data=(X, Y[:4]), verbose=0))):
        with pytest.raises(ValueError) as info:
            run()
        message = str(info.value)
        assert who in message and "same number of samples" in message and "6" in message


def test_one_hot_targets_for_a_sparse_shape(compiled):
    compiled.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError) as info:
        compiled.fit(X, Y, verbose=0)
    message = str(info.value)
    assert "(6,)" in message and "(6, 3)" in message and "sparse_categorical_crossentropy" in message


@pytest.mark.parametrize("call", ["fit", "evaluate", "train_on_batch"])
def test_training_before_compile(call):
    model = mc.Sequential([mc.Input((8, 8, 1)), layers.Flatten(), layers.Dense(3)], name="uncompiled")
    with pytest.raises(RuntimeError) as info:
        getattr(model, call)(X, Y)
    message = str(info.value)
    assert "compile()" in message and "'uncompiled'" in message and call in message


def test_nan_loss_stops_training_with_a_clear_warning(compiled):
    x = X.copy()
    x[:] = np.random.default_rng(0).random(x.shape)
    x[3, 0, 0, 0] = np.nan  # poisons the second batch (batch size 2)
    with pytest.warns(RuntimeWarning, match=r"Batch 1 of epoch 1: the loss is NaN or infinite. Training stopped"):
        history = compiled.fit(x, Y, batch_size=2, epochs=5, shuffle=False, verbose=0)
    assert compiled.stop_training
    assert len(history.history["loss"]) == 1  # stopped in the first of five epochs
    assert np.isnan(history.history["loss"][0])


@pytest.mark.parametrize("split", [1.0, 1.5, -0.1])
def test_bad_validation_split(compiled, split):
    with pytest.raises(ValueError, match=re.escape(f"validation_split must be in [0, 1), got {split}")):
        compiled.fit(X, Y, validation_split=split, verbose=0)


def test_validation_split_that_leaves_nothing_to_train_on(compiled):
    with pytest.raises(ValueError, match="leaves an empty set for 6 samples"):
        compiled.fit(X, Y, validation_split=0.9, verbose=0)


@pytest.mark.parametrize("size", [0, -4, 2.5, "32"])
def test_bad_batch_size(compiled, size):
    for who, run in (("fit", lambda: compiled.fit(X, Y, batch_size=size, verbose=0)),
                     ("evaluate", lambda: compiled.evaluate(X, Y, batch_size=size, verbose=0)),
                     ("predict", lambda: compiled.predict(X, batch_size=size))):
        with pytest.raises(ValueError) as info:
            run()
        assert f"{who}: batch_size must be a positive integer, got {size!r}" in str(info.value)


def test_numpy_integer_batch_size_is_accepted(compiled):
    assert compiled.predict(X, batch_size=np.int64(4)).shape == (6, 3)


# -- backend --------------------------------------------------------------------------------------------------
@pytest.fixture
def no_cupy(monkeypatch):
    """Make ``import cupy`` fail, whatever this machine has installed."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setitem(backend._state, "device", backend._state["device"])


def test_gpu_without_cupy_is_a_clear_backend_error(no_cupy):
    before = backend.get_device()
    with pytest.raises(backend.BackendError) as info:
        backend.set_device("gpu")
    message = str(info.value)
    assert "MINICNN_DEVICE=gpu" in message and "CuPy" in message and "MINICNN_DEVICE=cpu" in message
    assert backend.get_device() == before  # the failed switch changed nothing


def test_minicnn_device_env_gpu_without_cupy(no_cupy, monkeypatch):
    monkeypatch.setenv("MINICNN_DEVICE", "gpu")
    monkeypatch.setitem(backend._state, "device", None)  # resolve the environment again
    with pytest.raises(backend.BackendError, match="needs CuPy"):
        backend.get_device()


def test_auto_device_falls_back_to_cpu_without_cupy(no_cupy):
    backend.set_device("auto")
    assert backend.get_device() == "cpu" and backend.default_xp() is np


def test_unknown_device_and_floatx():
    with pytest.raises(ValueError, match=r"device must be one of \('cpu', 'gpu', 'auto'\), got 'tpu'"):
        backend.set_device("tpu")
    with pytest.raises(ValueError, match=r"floatx must be one of \('float32', 'float64'\), got 'float16'"):
        backend.set_floatx("float16")
    assert backend.floatx() == "float32"
