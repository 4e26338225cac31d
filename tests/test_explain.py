"""model.explain(): every number checked against a hand computation and the real shapes."""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn import layers
from minicnn.applications.seed_cnn import cifar10_cnn, tf_tutorial_cnn
from minicnn.models.explain import axis_size_formula, explain_model

# Seed CNN, worked by hand: out_h·out_w·c_out·(k·k·c_in) per conv, in·units per Dense.
SEED_MACS = {
    "conv1": 32 * 32 * 32 * (3 * 3 * 3),   # 884,736
    "conv2": 16 * 16 * 64 * (3 * 3 * 32),  # 4,718,592
    "conv3": 8 * 8 * 64 * (3 * 3 * 64),    # 2,359,296
    "dense1": 4096 * 128,                  # 524,288
    "dense2": 128 * 10,                    # 1,280
}
SEED_PARAMS = [896, 0, 18_496, 0, 36_928, 0, 524_416, 1_290]
SEED_ACTIVATIONS = [32 * 32 * 32, 16 * 16 * 32, 16 * 16 * 64, 8 * 8 * 64, 8 * 8 * 64, 4096, 128, 10]


def test_seed_cnn_totals_match_the_hand_computation():
    e = explain_model(cifar10_cnn())
    assert sum(SEED_MACS.values()) == 8_488_192
    assert e.forward_macs == 8_488_192
    assert e.forward_flops == 16_976_384  # ≈ 17 MFLOP
    assert [ex.macs for ex in e.layers] == [SEED_MACS["conv1"], 0, SEED_MACS["conv2"], 0, SEED_MACS["conv3"], 0,
                                            SEED_MACS["dense1"], SEED_MACS["dense2"]]
    assert [ex.params for ex in e.layers] == SEED_PARAMS
    assert e.params == e.trainable_params == 582_026
    assert [ex.activations for ex in e.layers] == SEED_ACTIVATIONS
    assert e.activation_bytes == 4 * sum(SEED_ACTIVATIONS)
    # im2col keeps one row of k·k·c_in values per output pixel of each conv
    assert e.im2col_values == 32 * 32 * 27 + 16 * 16 * 288 + 8 * 8 * 576
    # training: forward + dL/dW (all trainable) + dL/dx (not for the first conv: the image needs no gradient)
    assert e.weight_grad_macs == 8_488_192
    assert e.input_grad_macs == 8_488_192 - SEED_MACS["conv1"]
    assert e.training_macs == 24_579_840


def test_seed_cnn_printed_formulas():
    lines = []
    cifar10_cnn().explain(print_fn=lines.append)
    text = "\n".join(lines)
    assert "floor((32 + 2·1 − 3)/1) + 1 = 32" in text
    assert "max((32−1)·1 + 3 − 32, 0) = 2 → 1 before, 1 after" in text
    assert "k·k·c_in·c_out + c_out = 3·3·3·32 + 32 = 896" in text
    assert "out_h·out_w·c_out·(k·k·c_in) = 16·16·64·(3·3·32) = 4,718,592" in text
    assert "floor((32 + 2·0 − 2)/2) + 1 = 16" in text  # the first max pool
    assert "in·units + units = 4096·128 + 128 = 524,416" in text
    assert "8,488,192 multiply-adds = 16,976,384 FLOP (≈ 17.0 MFLOP)" in text
    assert "24,579,840 multiply-adds" in text
    summary = []
    cifar10_cnn().summary(print_fn=summary.append, explain=True)
    assert summary[0].startswith('Model: "') and any("8,488,192" in line for line in summary)


def test_valid_padding_cnn_by_hand():
    e = explain_model(tf_tutorial_cnn())
    by_hand = 30 * 30 * 32 * 27 + 13 * 13 * 64 * 288 + 4 * 4 * 64 * 576 + 1024 * 64 + 64 * 10
    assert e.forward_macs == by_hand == 4_548_608
    assert e.params == 122_570


def test_frozen_layers_change_the_training_step():
    model = cifar10_cnn()
    model.layers[0].trainable = False
    e = explain_model(model)
    assert e.weight_grad_macs == 8_488_192 - SEED_MACS["conv1"]
    # conv2's input comes from a frozen layer, so neither conv1 nor conv2 needs dL/dx
    assert e.input_grad_macs == 8_488_192 - SEED_MACS["conv1"] - SEED_MACS["conv2"]
    assert e.trainable_params == 582_026 - 896


def _last_number(line):
    return int(re.findall(r"= (\d+)$", line)[0])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(4, 40), k=st.integers(1, 5), s=st.integers(1, 3), d=st.integers(1, 3),
       padding=st.sampled_from(["valid", "same"]))
def test_size_formula_matches_the_real_layer(n, k, s, d, padding):
    if s > 1 and d > 1:
        d = 1  # Keras does not allow both
    if padding == "valid" and (k - 1) * d + 1 > n:
        return
    lines = axis_size_formula(n, k, s, padding, d)
    conv = layers.Conv2D(2, k, strides=s, padding=padding, dilation_rate=d)
    out = conv(np.zeros((1, n, n + 1, 1), dtype="float32"))
    assert _last_number(lines[-1]) == out.shape[1]
    assert axis_size_formula(n + 1, k, s, padding, d)[-1].endswith(f"= {out.shape[2]}")


def test_every_layer_line_agrees_with_the_shapes_real_data_produce():
    model = cifar10_cnn()
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    e = explain_model(model)
    for layer, ex in zip(model.layers, e.layers):
        x = layer(x).numpy()
        assert ex.activations == int(np.prod(x.shape[1:]))
        if ex.size_lines and layer.__class__.__name__ != "Flatten" and hasattr(layer, "strides"):
            assert _last_number(ex.size_lines[-1]) == x.shape[1]


def test_custom_layer_is_explained_through_its_sublayers():
    class Residual(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.conv = layers.Conv2D(8, 3, padding="same")
            self.add = layers.Add()

        def call(self, x):
            return self.add([x, self.conv(x)])

    inp = mc.Input((16, 16, 8))
    model = mc.Model(inp, layers.GlobalAveragePooling2D()(Residual()(inp)))
    e = explain_model(model)
    block = e.layers[0]
    assert [c.kind for c in block.children] == ["Conv2D", "Add"]
    assert block.macs == e.forward_macs == 16 * 16 * 8 * 72
    assert block.params == 3 * 3 * 8 * 8 + 8


def test_unbuilt_model_gives_a_clear_error():
    model = mc.Sequential([layers.Dense(3)])
    try:
        explain_model(model)
    except ValueError as err:
        assert "not built" in str(err)
    else:
        raise AssertionError("explain() on an unbuilt model must raise")


def test_mobilenet_matches_the_paper():
    """Howard et al. 2017, Table 6/8: 1.0 MobileNet-224 569 M mult-adds, 4.2 M parameters;
    0.25 MobileNet-224 41 M mult-adds (depthwise + 1×1 convs + the classifier)."""
    mobilenet = pytest.importorskip("minicnn.applications.mobilenet")
    e = explain_model(mobilenet.MobileNet(alpha=1.0))
    assert e.params == 4_253_864  # keras.applications.MobileNet().count_params()
    assert round(e.forward_macs / 1e6) == 569
    small = explain_model(mobilenet.MobileNet(alpha=0.25, input_shape=(224, 224, 3)))
    assert round(small.forward_macs / 1e6) == 41


def test_depthwise_and_separable_formulas():
    if not hasattr(layers, "SeparableConv2D"):
        pytest.skip("DepthwiseConv2D/SeparableConv2D not available")
    inp = mc.Input((16, 16, 8))
    x = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(inp)
    x = layers.SeparableConv2D(16, 3, strides=2, padding="same")(x)
    e = explain_model(mc.Model(inp, x))
    dw, sep = e.layers
    assert dw.params == 3 * 3 * 8 * 2 + 16 and dw.macs == 16 * 16 * 16 * 9
    assert sep.params == 3 * 3 * 16 + 16 * 16 + 16 and sep.macs == 8 * 8 * 16 * (9 + 16)
    assert "k·k·c_in·m + c_in·m·filters + filters = 3·3·16·1 + 16·16 + 16 = 416" in sep.param_formula


@pytest.mark.parametrize("kwargs, out_hw", [
    ({"strides": 2, "padding": "same", "output_padding": 1}, (10, 10)),
    ({"strides": 2, "padding": "same"}, (10, 10)),
    ({"strides": (2, 3), "padding": "valid"}, (11, 15)),
    ({"strides": 2, "padding": "valid", "output_padding": 1}, (12, 12)),
])
def test_conv2d_transpose_formulas(kwargs, out_hw):
    """Each input pixel adds a kh·kw·filters patch: the multiply-adds count the
    inputs; the size lines give the shape the layer really produces."""
    inp = mc.Input((5, 5, 3))
    out = layers.Conv2DTranspose(4, 3, name="up", **kwargs)(inp)
    model = mc.Model(inp, out)
    (up,) = explain_model(model).layers
    y = model.predict(np.zeros((1, 5, 5, 3), np.float32), verbose=0)
    assert y.shape[1:3] == out_hw and up.output_shape[1:3] == out_hw
    assert up.params == 3 * 3 * 4 * 3 + 4 and up.macs == 5 * 5 * 3 * 3 * 3 * 4
    assert up.mac_formula == "in_h·in_w·c_in·(k·k·filters) = 5·5·3·(3·3·4) = 2,700"
    for line, size in zip(up.size_lines, out_hw):
        assert line.split(" = ")[-1].split(" ")[0] == str(size)
