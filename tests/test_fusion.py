"""Graph fusion (``models/fusion.py``): [pad] conv [BN] [ReLU] as one convolution.

Each test runs the same model twice, once with its planned chains and once
with none (every layer on its own), and the two must agree: outputs,
gradients, and the BatchNormalization statistics. A BN in training mode
keeps its ReLU but not the convolution; what must not fuse (a tensor read
twice) is checked to run unfused.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import layers
from minicnn.autograd import Tensor
from minicnn.ops.conv import Conv2DFunction
from minicnn.ops.depthwise import DepthwiseConv2DFunction
from test_fused_groups import functions


def mobile_block(dtype="float32"):
    """ZeroPadding2D -> Conv2D(valid, /2) -> BN -> ReLU6 -> DepthwiseConv2D -> BN ->
    Activation(relu) -> 1x1 Conv2D -> BN (the output), with non-trivial BN statistics."""
    mc.utils.set_random_seed(3)
    inp = mc.Input((9, 9, 3), dtype=dtype)
    x = layers.ZeroPadding2D(((0, 1), (0, 1)), name="pad", dtype=dtype)(inp)
    x = layers.Conv2D(4, 3, strides=2, use_bias=False, name="conv", dtype=dtype)(x)
    x = layers.BatchNormalization(name="bn1", dtype=dtype)(x)
    x = layers.ReLU(6.0, name="relu6", dtype=dtype)(x)
    x = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw", dtype=dtype)(x)
    x = layers.BatchNormalization(name="bn2", dtype=dtype)(x)
    x = layers.Activation("relu", name="relu", dtype=dtype)(x)
    x = layers.Conv2D(5, 1, name="project", dtype=dtype)(x)
    x = layers.BatchNormalization(name="bn3", dtype=dtype)(x)
    return set_statistics(mc.Model(inp, x))


def set_statistics(model):
    """Non-trivial γ, β and moving statistics in every BatchNormalization of ``model``."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.kind == "batch_norm":
            c = layer.gamma.shape
            layer.gamma.assign(rng.random(c) + 0.5)
            layer.beta.assign(rng.standard_normal(c))
            layer.moving_mean.assign(rng.standard_normal(c))
            layer.moving_variance.assign(rng.random(c) + 0.2)
    return model


def unfused(model):
    """The same model, every layer on its own."""
    model._graph["chains"] = []
    return model


def images(dtype="float32", n=4):
    return np.random.default_rng(1).standard_normal((n, 9, 9, 3)).astype(dtype)


def test_the_chains_are_found_and_listed():
    model = mobile_block()
    assert [[l.name for l in group] for group, _ in model.fused_groups()] == [
        ["pad", "conv", "bn1", "relu6"], ["dw", "bn2", "relu"], ["project", "bn3"]]
    lines = []
    model.summary(print_fn=lines.append)
    assert (" pad (ZeroPadding2D) + conv (Conv2D) + bn1 (BatchNormalization) + relu6 (ReLU) run as one "
            "fused Function (minicnn/models/fusion.py)") in lines


@pytest.mark.parametrize("dtype, tol", [("float32", 2e-6), ("float64", 1e-13)])
def test_inference_equals_the_layers_one_by_one(dtype, tol):
    x = images(dtype)
    fused = mobile_block(dtype).predict(x)
    plain = unfused(mobile_block(dtype)).predict(x)
    np.testing.assert_allclose(fused, plain, rtol=tol, atol=tol * np.abs(plain).max())


def test_inference_runs_three_convolutions_and_nothing_else():
    """A frozen model, differentiated with respect to its input: the graph holds
    the three convolutions only (the folded weights are constants)."""
    model = mobile_block()
    model.trainable = False
    y = model(Tensor(images(), requires_grad=True), training=False)
    kinds = sorted(type(f).__name__ for f in functions(y))
    assert kinds == ["Conv2DFunction", "Conv2DFunction", "DepthwiseConv2DFunction"]


@pytest.mark.parametrize("dtype, tol", [("float32", 2e-6), ("float64", 1e-12)])
def test_batch_norm_in_training_mode_keeps_its_relu_in_one_pass(dtype, tol):
    """fit with trainable BN: batch statistics, so BN cannot fold into the
    convolution; each chain runs as its convolution (the padding folded in)
    and one BatchNormFunction with the ReLU inside. Output, every gradient and
    the moving statistics equal the layers one by one (the gradients in
    float64)."""
    results = []
    for model in (mobile_block(dtype), unfused(mobile_block(dtype))):
        x = Tensor(images(dtype), requires_grad=True)
        y = model(x, training=True)
        kinds = [type(f).__name__ for f in functions(y)]
        (y * y).sum().backward()
        moving = [v.numpy() for l in model.layers if l.kind == "batch_norm" for v in (l.moving_mean, l.moving_variance)]
        results.append(([y.data, x.grad] + [w.grad for w in model.trainable_weights], moving, kinds))
    (fused, fused_moving, fused_kinds), (plain, plain_moving, plain_kinds) = results
    assert fused_kinds.count("BatchNormFunction") == 3 and "ZeroPad2D" not in fused_kinds
    assert not any("ReLU" in k or "Relu" in k for k in fused_kinds)
    assert "ZeroPad2D" in plain_kinds and any("ReLU" in k or "Relu" in k for k in plain_kinds)
    # in float32 the gradients of a bias before a BN are rounding noise (their
    # exact value is 0), so they are compared in float64 only
    compared = fused + fused_moving if dtype == "float64" else [fused[0]] + fused_moving
    reference = plain + plain_moving if dtype == "float64" else [plain[0]] + plain_moving
    for a, b in zip(compared, reference, strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())


def test_frozen_batch_norm_fuses_in_training_and_gradients_agree():
    """Fine-tuning with frozen BN (Keras' advice): the BNs run in inference mode
    in fit, fuse, and the trainable convolutions get the same gradients."""
    grads = []
    for model in (mobile_block("float64"), unfused(mobile_block("float64"))):
        for layer in model.layers:
            if layer.kind == "batch_norm":
                layer.trainable = False
        x = Tensor(images("float64"), requires_grad=True)
        y = model(x, training=True)
        assert not any(type(f).__name__ == "BatchNormFunction" for f in functions(y)) or model._graph["chains"] == []
        (y * y).sum().backward()
        grads.append([x.grad] + [w.grad for w in model.trainable_weights])
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11 * np.abs(b).max())


def test_a_tensor_read_twice_is_not_fused_away():
    inp = mc.Input((6, 6, 2))
    conv = layers.Conv2D(3, 3, padding="same", name="conv")(inp)
    bn = layers.BatchNormalization(name="bn")(conv)
    out = layers.Add()([bn, conv])  # conv's output is read by the BN and by the Add
    model = mc.Model(inp, out)
    assert model.fused_groups() == []
    x = np.random.default_rng(2).standard_normal((2, 6, 6, 2)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), unfused(model).predict(x), rtol=0, atol=0)


def test_a_convolution_with_its_own_activation_keeps_it():
    """Conv2D(activation='sigmoid') then BN: BN would have to come after the
    sigmoid, so nothing folds."""
    inp = mc.Input((5, 5, 1))
    out = layers.BatchNormalization()(layers.Conv2D(2, 3, activation="sigmoid")(inp))
    assert mc.Model(inp, out).fused_groups() == []


def test_fused_functions_are_the_convolutions_with_activation_inside():
    model = mobile_block()
    model.trainable = False
    y = model(Tensor(images(), requires_grad=True), training=False)
    convs = {type(f).__name__: f for f in functions(y) if isinstance(f, (Conv2DFunction, DepthwiseConv2DFunction))}
    assert convs["DepthwiseConv2DFunction"].relu and convs["DepthwiseConv2DFunction"].max_value is None


def test_pre_activation_batch_norm_and_relu_fuse_and_agree():
    """ResNetV2's pattern: Add -> BN -> ReLU, with no convolution to fold into:
    one BatchNormFunction with the ReLU inside, equal to the two layers, in
    predict and in fit with the BN frozen (gradients too)."""
    def block():
        mc.utils.set_random_seed(5)
        inp = mc.Input((6, 6, 4), dtype="float64")
        x = layers.Add(dtype="float64")([inp, inp])
        x = layers.BatchNormalization(name="preact_bn", dtype="float64")(x)
        x = layers.ReLU(name="preact_relu", dtype="float64")(x)
        out = layers.Conv2D(3, 3, padding="same", activation="tanh", name="conv", dtype="float64")(x)
        model = mc.Model(inp, out)
        bn = model.get_layer("preact_bn")
        bn.moving_mean.assign(np.linspace(-1, 1, 4))
        bn.moving_variance.assign(np.linspace(0.5, 2, 4))
        bn.trainable = False
        return model
    fused, plain = block(), unfused(block())
    assert [[l.name for l in group] for group, _ in fused.fused_groups()] == [["preact_bn", "preact_relu"]]
    grads = []
    for model in (fused, plain):
        x = Tensor(np.random.default_rng(4).standard_normal((3, 6, 6, 4)), requires_grad=True)
        y = model(x, training=True)
        (y * y).sum().backward()
        grads.append([y.data, x.grad] + [w.grad for w in model.trainable_weights])
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())


def test_the_folded_weights_are_cached_until_a_weight_changes():
    """predict folds each BN into its kernel once; an assign or an optimizer
    step makes the next predict fold again (Variable.version), so the result
    always follows the weights."""
    model = mobile_block()
    x = images()
    first = model.predict(x)
    bn = model.get_layer("bn1")
    cached = bn._folded
    model.predict(x)
    assert bn._folded is cached  # reused
    model.get_layer("conv").kernel.assign(model.get_layer("conv").kernel.numpy() * 2)
    after_assign = model.predict(x)
    assert bn._folded is not cached
    assert not np.allclose(after_assign, first)
    reference = mobile_block()
    reference.get_layer("conv").kernel.assign(reference.get_layer("conv").kernel.numpy() * 2)
    np.testing.assert_allclose(after_assign, unfused(reference).predict(x), rtol=2e-6, atol=2e-6)
    model.compile(optimizer="sgd", loss="mse")
    model.get_layer("bn1").trainable = False
    model.fit(x, np.zeros(first.shape, np.float32), batch_size=4, epochs=1, verbose=0)
    trained = model.predict(x)
    model._graph["chains"] = []
    np.testing.assert_allclose(trained, model.predict(x), rtol=2e-6, atol=2e-6)
