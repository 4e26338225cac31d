"""Conv2DTranspose: gradients, its defining identity, output sizes and errors.

The identity: a transposed convolution is the adjoint of the convolution with
the same kernel and settings, <conv2d(y, W), x> = <y, conv2d_transpose(x, W)>
for every y of the output's size and every x. (Agreement with Keras itself is
in parity/test_layers.py; these tests need no TensorFlow.)
"""
from __future__ import annotations

import numpy as np
import pytest
from test_gradcheck import check_layer, normal

import minicnn as mc
from minicnn import layers
from minicnn.autograd import Tensor
from minicnn.ops.conv import conv2d
from minicnn.ops.conv_transpose import conv2d_transpose


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.Conv2DTranspose(3, 3), (2, 3, 4, 2)),
    (lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same", activation="tanh"), (2, 3, 3, 2)),
    (lambda: layers.Conv2DTranspose(2, (2, 3), strides=(2, 3), output_padding=(1, 2), use_bias=False), (1, 3, 2, 3)),
    (lambda: layers.Conv2DTranspose(2, 2, strides=2, padding="same", output_padding=1,
                                    bias_initializer="random_normal"), (2, 2, 3, 2)),
    (lambda: layers.Conv2DTranspose(2, 3, dilation_rate=2, padding="same"), (1, 4, 3, 2)),
    (lambda: layers.Conv2DTranspose(2, 1, strides=2), (1, 3, 3, 2)),  # the stride leaves gaps: zeros
])
def test_gradients(float64, make, shape):
    check_layer(make(), normal(*shape))


@pytest.mark.parametrize("kernel, strides, padding, output_padding, dilation", [
    ((3, 3), (1, 1), "valid", None, (1, 1)),
    ((3, 2), (2, 3), "same", None, (1, 1)),
    ((4, 3), (3, 2), "valid", (2, 1), (1, 1)),
    ((2, 3), (2, 2), "same", (1, 0), (1, 1)),
    ((3, 2), (1, 1), "valid", None, (2, 3)),
])
def test_is_the_adjoint_of_the_convolution_with_the_same_settings(kernel, strides, padding, output_padding,
                                                                   dilation):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((*kernel, 2, 5))
    up = conv2d_transpose(Tensor(x), Tensor(w), None, strides, padding, output_padding, dilation).numpy()
    y = rng.standard_normal(up.shape)
    down = conv2d(Tensor(y), Tensor(w), None, strides, padding, dilation).numpy()
    assert down.shape == x.shape
    np.testing.assert_allclose((down * x).sum(), (y * up).sum(), rtol=1e-10)


@pytest.mark.parametrize("kwargs, out_hw", [
    ({"kernel_size": 3}, (7, 8)),  # (N - 1)·1 + 3
    ({"kernel_size": 3, "strides": 2}, (11, 13)),  # (N - 1)·2 + 3
    ({"kernel_size": 1, "strides": 2}, (10, 12)),  # (N - 1)·2 + max(1, 2)
    ({"kernel_size": 3, "strides": 2, "padding": "same"}, (10, 12)),  # N·2
    ({"kernel_size": 3, "strides": 2, "output_padding": 1}, (12, 14)),  # (N - 1)·2 + 3 + 1
    ({"kernel_size": 4, "strides": 3, "padding": "same", "output_padding": (1, 2)}, (13, 17)),  # (N-1)·3 + 0 + op
    ({"kernel_size": 3, "dilation_rate": 2}, (9, 10)),  # (N - 1) + 5
])
def test_output_size_follows_keras_rule(kwargs, out_hw):
    layer = layers.Conv2DTranspose(4, **kwargs)
    y = layer(np.zeros((2, 5, 6, 3), "float32"))
    assert y.shape == (2, *out_hw, 4)
    assert layer.compute_output_shape((None, 5, 6, 3)) == (None, *out_hw, 4)
    assert layer.compute_output_shape((None, None, 6, 3)) == (None, None, out_hw[1], 4)
    assert layer.kernel.shape == (*layer.kernel_size, 4, 3)  # Keras' layout: filters before input channels


def test_stride_2_same_doubles_and_places_one_scaled_kernel_per_pixel():
    """One input pixel of value 1 and a 2x2 kernel of ones, stride 2: a 2x2 patch of ones in its place."""
    layer = layers.Conv2DTranspose(1, 2, strides=2, padding="same", kernel_initializer="ones", use_bias=False)
    x = np.zeros((1, 2, 3, 1), "float32")
    x[0, 1, 2, 0] = 1.0
    y = layer(x).numpy()[0, :, :, 0]
    expected = np.zeros((4, 6), "float32")
    expected[2:4, 4:6] = 1.0
    np.testing.assert_array_equal(y, expected)


def test_output_padding_must_be_below_the_stride():
    with pytest.raises(ValueError, match=r"Conv2DTranspose 'up': output_padding .* below the stride .* got 2"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=2, name="up")
    with pytest.raises(ValueError, match=r"output_padding .* got \(0, -1\)"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=(0, -1))


def test_an_output_size_no_convolution_maps_back_is_a_clear_error():
    """An even kernel with padding='same' and output_padding=0: TensorFlow refuses it too."""
    layer = layers.Conv2DTranspose(2, 2, strides=2, padding="same", output_padding=0, name="up")
    want = r"Conv2DTranspose 'up': a 3x3 input .* gives a 4x4 output, which a convolution .* back to 3x3"
    with pytest.raises(ValueError, match=want):
        layer.compute_output_shape((None, 3, 3, 1))
    with pytest.raises(ValueError, match=want):
        layer(np.zeros((1, 3, 3, 1), "float32"))


def test_wrong_input_names_the_layer_and_shapes():
    layer = layers.Conv2DTranspose(2, 3, name="up")
    with pytest.raises(ValueError, match=r"'up' \(Conv2DTranspose\).*\(2, 5, 6\)"):
        layer(np.zeros((2, 5, 6), "float32"))
    layer(np.zeros((1, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match=r"'up' \(Conv2DTranspose\).*\(None, None, None, 3\).*\(1, 4, 4, 2\)"):
        layer(np.zeros((1, 4, 4, 2), "float32"))


def test_a_decoder_saves_and_loads_with_the_same_predictions(tmp_path):
    model = mc.Sequential([mc.Input((4, 4, 3)), layers.Conv2D(4, 3, padding="same", activation="relu"),
                           layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1)])
    x = np.random.default_rng(0).random((2, 4, 4, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = mc.models.load_model(tmp_path / "m.keras")
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
