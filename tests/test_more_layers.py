"""LeakyReLU, the merges Subtract/Average/Maximum/Minimum and the noise layers
SpatialDropout2D/GaussianNoise: gradients, training-mode behaviour and errors.

(Agreement with Keras itself is in parity/test_layers.py, and .keras files
holding these layers in parity/test_keras_files.py; these tests need no TensorFlow.)
"""
from __future__ import annotations

import numpy as np
import pytest
from test_gradcheck import away_from, check_layer, normal, tie_free

import minicnn as mc
from minicnn import layers
from minicnn.autograd import Tensor


@pytest.mark.parametrize("make", [lambda: layers.LeakyReLU(), lambda: layers.LeakyReLU(negative_slope=0.05)])
def test_leaky_relu_gradients(float64, make):
    check_layer(make(), away_from([0.0], (3, 4, 5)))


def test_leaky_relu_values_and_keras_defaults():
    layer = layers.LeakyReLU()
    assert layer.negative_slope == 0.3  # Keras 3's default (Keras 2's was also 0.3)
    y = layer(np.array([-10.0, -1.0, 0.0, 2.0], "float32")).numpy()
    np.testing.assert_allclose(y, [-3.0, -0.3, 0.0, 2.0], rtol=1e-6)
    assert layers.LeakyReLU(alpha=0.1).negative_slope == pytest.approx(0.1)  # Keras 2's name for it


@pytest.mark.parametrize("make, n_inputs", [
    (lambda: layers.Subtract(), 2), (lambda: layers.Average(), 3),
    (lambda: layers.Maximum(), 3), (lambda: layers.Minimum(), 2),
])
def test_merge_gradients(float64, make, n_inputs):
    """Values 0.1 apart (tie_free), so max and min have one owner per element."""
    check_layer(make(), *tie_free((n_inputs, 2, 3, 4)))


def test_merge_values():
    a, b, c = (np.array(v, "float32") for v in ([[1.0, -2.0]], [[3.0, 5.0]], [[2.0, 0.0]]))
    np.testing.assert_array_equal(layers.Subtract()([a, b]).numpy(), [[-2.0, -7.0]])
    np.testing.assert_allclose(layers.Average()([a, b, c]).numpy(), [[2.0, 1.0]])
    np.testing.assert_array_equal(layers.Maximum()([a, b, c]).numpy(), [[3.0, 5.0]])
    np.testing.assert_array_equal(layers.Minimum()([a, b, c]).numpy(), [[1.0, -2.0]])


def test_spatial_dropout_drops_whole_channels():
    layer = layers.SpatialDropout2D(0.5)
    y = layer(Tensor(np.ones((8, 5, 6, 16), "float32")), training=True).numpy()
    assert set(np.unique(y)) == {0.0, 2.0}  # dropped or scaled by 1/(1 - rate)
    assert (y == y[:, :1, :1, :]).all()  # one draw per (sample, channel), the same at every pixel
    assert 0 < (y[:, 0, 0, :] == 0).mean() < 1
    x = normal(2, 3, 3, 4).astype("float32")
    np.testing.assert_array_equal(layer(Tensor(x)).numpy(), x)  # inference: the identity


def test_spatial_dropout_gradients_follow_the_mask(float64):
    check_layer(layers.SpatialDropout2D(0.4), normal(3, 2, 3, 4), training=True)


def test_spatial_dropout_seed_repeats_its_masks():
    x = Tensor(np.ones((4, 2, 2, 8), "float32"))
    first, second = (layers.SpatialDropout2D(0.5, seed=3)(x, training=True).numpy() for _ in range(2))
    np.testing.assert_array_equal(first, second)


def test_gaussian_noise_in_training_and_inference():
    x = np.zeros((200, 500), "float32")
    y = layers.GaussianNoise(0.2)(Tensor(x), training=True).numpy()
    assert y.dtype == np.float32
    # the sample std of 100,000 N(0, 0.04) draws is within 0.2 · 5 / sqrt(2 · 100,000) of 0.2
    assert abs(y.std() - 0.2) < 0.2 * 5 / np.sqrt(2 * y.size)
    assert abs(y.mean()) < 0.2 * 5 / np.sqrt(y.size)
    np.testing.assert_array_equal(layers.GaussianNoise(0.2)(Tensor(x)).numpy(), x)  # inference: the identity
    first, second = (layers.GaussianNoise(0.2, seed=4)(Tensor(x[:2]), training=True).numpy() for _ in range(2))
    np.testing.assert_array_equal(first, second)


def test_gaussian_noise_gradient_passes_unchanged(float64):
    check_layer(layers.GaussianNoise(0.5), normal(3, 4), training=True)


@pytest.mark.parametrize("make, message", [
    (lambda: layers.LeakyReLU(-0.1), r"LeakyReLU 'leaky_re_lu\w*': negative_slope must be a float >= 0, got -0.1"),
    (lambda: layers.LeakyReLU(None), r"negative_slope must be a float >= 0, got None"),
    (lambda: layers.GaussianNoise(1.5), r"GaussianNoise '\w+': stddev must be in \[0, 1\], got 1.5"),
    (lambda: layers.SpatialDropout2D(1.0), r"SpatialDropout2D '\w+': rate must be in \[0, 1\), got 1.0"),
    (lambda: layers.SpatialDropout2D(0.1, data_format="channels_first"),
     r"SpatialDropout2D '\w+': only data_format='channels_last' \(NHWC\) is supported"),
])
def test_bad_arguments_name_the_layer(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_inputs_name_the_layer():
    x = np.zeros((2, 3, 4), "float32")
    with pytest.raises(ValueError, match=r"'sub' \(Subtract\) needs exactly 2 inputs, got 3"):
        layers.Subtract(name="sub")([x, x, x])
    with pytest.raises(ValueError, match=r"'hi' \(Maximum\) needs inputs of the same shape, "
                                         r"got \[\(2, 3, 4\), \(2, 3, 5\)\]"):
        layers.Maximum(name="hi")([x, np.zeros((2, 3, 5), "float32")])
    with pytest.raises(ValueError, match=r"'avg' \(Average\) needs a list of at least 2 inputs"):
        layers.Average(name="avg")(x)
    with pytest.raises(ValueError, match=r"'sd' \(SpatialDropout2D\) expected input of shape"):
        layers.SpatialDropout2D(0.1, name="sd")(x)


def test_model_with_the_new_layers_round_trips_through_a_keras_file(tmp_path):
    inputs = mc.Input((6, 6, 3))
    a = layers.SpatialDropout2D(0.2, seed=1)(layers.Conv2D(4, 3, padding="same")(inputs))
    b = layers.LeakyReLU(0.1)(layers.Conv2D(4, 3, padding="same")(inputs))
    m = layers.Average()([layers.Maximum()([a, b]), layers.Minimum()([a, b]), layers.Subtract()([a, b])])
    outputs = layers.Dense(2)(layers.Flatten()(layers.GaussianNoise(0.1)(m)))
    model = mc.Model(inputs, outputs)
    model.save(tmp_path / "m.keras")
    loaded = mc.models.load_model(tmp_path / "m.keras")
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    assert [layer.get_config() for layer in loaded.layers[1:]] == [layer.get_config() for layer in model.layers[1:]]
    x = normal(2, 6, 6, 3).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
