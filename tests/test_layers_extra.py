"""The transfer-learning layers: gradients, BatchNorm's training/inference/frozen
semantics, shapes and the errors a learner meets.

(Agreement with Keras itself is in parity/test_layers.py and
parity/test_layers_transfer.py; these tests need no TensorFlow.)
"""
from __future__ import annotations

import numpy as np
import pytest
from test_gradcheck import check_layer, normal

import minicnn as mc
from minicnn import layers
from minicnn.autograd import Tensor


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.DepthwiseConv2D(3), (2, 5, 5, 2)),
    (lambda: layers.DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=3), (2, 6, 5, 2)),
    (lambda: layers.DepthwiseConv2D(2, dilation_rate=2, use_bias=False, activation="tanh"), (1, 5, 6, 3)),
    (lambda: layers.SeparableConv2D(4, 3, padding="same", depth_multiplier=2), (2, 4, 5, 3)),
    (lambda: layers.SeparableConv2D(2, (1, 3), strides=(2, 1), use_bias=False), (1, 5, 5, 2)),
    (lambda: layers.BatchNormalization(), (3, 4, 4, 2)),
    (lambda: layers.BatchNormalization(axis=1, center=False), (3, 2, 4, 5)),
    (lambda: layers.ZeroPadding2D(((1, 0), (2, 3))), (2, 3, 3, 2)),
    (lambda: layers.Cropping2D(((1, 0), (0, 2))), (2, 4, 5, 2)),
    (lambda: layers.UpSampling2D((2, 3)), (2, 2, 3, 2)),
    (lambda: layers.UpSampling2D(2, interpolation="bilinear"), (1, 3, 2, 2)),
    (lambda: layers.Softmax(axis=1), (2, 4, 3)),
])
def test_gradients(float64, make, shape):
    check_layer(make(), normal(*shape))


def test_batchnorm_training_mode_gradients(float64):
    """With batch statistics the gradient flows through the mean and variance too."""
    check_layer(layers.BatchNormalization(gamma_initializer="random_normal"), normal(4, 3, 2, 3), training=True)


def test_relu_layer_gradient_away_from_its_kinks(float64):
    x = np.array([[-2.0, -0.7, -0.2, 0.3, 1.0, 4.0, 6.5, 9.0]])
    check_layer(layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5), x)


def test_relu_layer_values():
    x = np.array([[-2.0, 0.0, 0.4, 0.6, 3.0, 8.0]], dtype="float32")
    y = layers.ReLU(max_value=6.0, negative_slope=0.5, threshold=0.5)(x).numpy()
    np.testing.assert_allclose(y, [[-1.25, -0.25, -0.05, 0.6, 3.0, 6.0]], rtol=1e-6)
    assert layers.ReLU(6.0)(np.array([[7.0, -1.0]])).numpy().tolist() == [[6.0, 0.0]]


def test_depthwise_equals_a_loop_over_channels():
    """Output channel c·M + m is input channel c convolved with kernel [..., c, m]."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 5, 3)).astype("float32")
    dw = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False)
    y = dw(x).numpy()
    kernel = dw.get_weights()[0]
    for c in range(3):
        for m in range(2):
            conv = layers.Conv2D(1, 3, padding="same", use_bias=False)
            conv(x[..., c:c + 1])
            conv.set_weights([kernel[:, :, c:c + 1, m:m + 1]])
            np.testing.assert_allclose(y[..., c * 2 + m], conv(x[..., c:c + 1]).numpy()[..., 0], atol=1e-5)


def test_separable_is_depthwise_then_pointwise():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 7, 3)).astype("float32")
    sep = layers.SeparableConv2D(5, 3, strides=2, depth_multiplier=2, padding="same")
    y = sep(x).numpy()
    dw_k, pw_k, bias = sep.get_weights()
    assert (dw_k.shape, pw_k.shape, bias.shape) == ((3, 3, 3, 2), (1, 1, 6, 5), (5,))
    dw = layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", use_bias=False)
    pw = layers.Conv2D(5, 1)
    mid = dw(x)
    dw.set_weights([dw_k])
    pw(mid)
    pw.set_weights([pw_k, bias])
    np.testing.assert_allclose(y, pw(dw(x)).numpy(), atol=1e-5)
    assert sep.count_params() == 3 * 3 * 3 * 2 + 6 * 5 + 5


def test_batchnorm_normalises_with_batch_stats_and_updates_moving_averages():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((64, 3, 3, 4)) * 3 + 5).astype("float32")
    bn = layers.BatchNormalization()
    y = bn(x, training=True).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(y.var(axis=(0, 1, 2)), x.var(axis=(0, 1, 2)) / (x.var(axis=(0, 1, 2)) + 1e-3),
                               rtol=1e-4)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # biased variance, as Keras
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.99 + 0.01 * var, rtol=1e-5)
    # inference uses the moving statistics and changes nothing
    before = bn.get_weights()
    y_inf = bn(x, training=False).numpy()
    expected = (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3)
    np.testing.assert_allclose(y_inf, expected, rtol=1e-4, atol=1e-5)
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_frozen_batchnorm_runs_in_inference_mode_even_when_training():
    x = np.random.default_rng(3).standard_normal((8, 2, 2, 3)).astype("float32") + 2
    bn = layers.BatchNormalization()
    bn.build(x.shape)
    bn.trainable = False
    y = bn(x, training=True).numpy()
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), 0)
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4


def test_moving_statistics_are_never_trainable():
    bn = layers.BatchNormalization()
    bn.build((None, 4, 4, 3))
    assert [w.name for w in bn.trainable_weights] == ["gamma", "beta"]
    assert [w.name for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
    bn.trainable = False
    bn.trainable = True  # unfreezing must not make the moving statistics trainable
    assert [w.name for w in bn.trainable_weights] == ["gamma", "beta"]


def test_fit_updates_batchnorm_statistics_and_summary_splits_params():
    model = mc.Sequential([mc.Input((4, 4, 2)), layers.Conv2D(3, 3, use_bias=False), layers.BatchNormalization(),
                           layers.ReLU(), layers.Flatten(), layers.Dense(2)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Total params: 92" in text and "Trainable params: 86" in text and "Non-trainable params: 6" in text
    x = np.random.default_rng(4).standard_normal((32, 4, 4, 2)).astype("float32")
    y = np.arange(32) % 2
    model.compile(optimizer="sgd", loss=mc.losses.SparseCategoricalCrossentropy(from_logits=True))
    bn = model.layers[1]
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert not np.allclose(bn.moving_mean.numpy(), 0)


def test_reshaping_layers_shapes_and_values():
    x = np.arange(2 * 3 * 4 * 1, dtype="float32").reshape(2, 3, 4, 1)
    padded = layers.ZeroPadding2D(((1, 0), (0, 2)))(x).numpy()
    assert padded.shape == (2, 4, 6, 1) and padded[:, 0].sum() == 0 and padded[:, :, 4:].sum() == 0
    np.testing.assert_array_equal(padded[:, 1:, :4], x)
    np.testing.assert_array_equal(layers.Cropping2D(((1, 1), (1, 0)))(x).numpy(), x[:, 1:2, 1:])
    up = layers.UpSampling2D((2, 3))(x).numpy()
    assert up.shape == (2, 6, 12, 1)
    np.testing.assert_array_equal(up[:, ::2, ::3], x)
    assert layers.ZeroPadding2D(2).compute_output_shape((None, 5, None, 3)) == (None, 9, None, 3)


def test_softmax_layer_sums_to_one():
    y = layers.Softmax(axis=1)(np.random.default_rng(5).standard_normal((2, 5, 3))).numpy()
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("make, shape, words", [
    (lambda: layers.DepthwiseConv2D(5), (1, 3, 3, 2), ["DepthwiseConv2D", "5x5", "3x3"]),
    (lambda: layers.DepthwiseConv2D(3), (1, 8, 8), ["expected input of shape", "(1, 8, 8)"]),
    (lambda: layers.Cropping2D(((2, 2), (0, 0))), (1, 4, 4, 1), ["Cropping2D", "leaves nothing"]),
    (lambda: layers.BatchNormalization(), (2, 3, 3, 2), ["BatchNormalization", "expected input of shape"]),
])
def test_clear_errors(make, shape, words):
    layer = make()
    if isinstance(layer, layers.BatchNormalization):
        layer.build((None, 3, 3, 4))  # built for 4 channels, given 2
    with pytest.raises(ValueError) as err:
        layer(np.zeros(shape, dtype="float32"))
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize("make, words", [
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), ["depth_multiplier"]),
    (lambda: layers.UpSampling2D(interpolation="bicubic"), ["interpolation"]),
    (lambda: layers.ZeroPadding2D(((1, -1), (0, 0))), ["padding"]),
    (lambda: layers.ReLU(negative_slope=-1), ["negative_slope"]),
])
def test_bad_arguments(make, words):
    with pytest.raises(ValueError) as err:
        make()
    for word in words:
        assert word in str(err.value)


def test_layer_output_attribute_cuts_a_graph():
    inp = mc.Input((6, 6, 2))
    mid = layers.Conv2D(3, 3, name="mid")(inp)
    out = layers.GlobalAveragePooling2D()(layers.ReLU()(mid))
    model = mc.Model(inp, out)
    trunk = mc.Model(model.input, model.get_layer("mid").output)
    assert trunk.output_shape == (None, 4, 4, 3)
    x = np.ones((1, 6, 6, 2), dtype="float32")
    np.testing.assert_allclose(trunk.predict(x), model.get_layer("mid")(Tensor(x)).numpy())
