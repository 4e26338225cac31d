"""The Add that ends a residual block, fused into the convolution before it.

``ops/conv.py::Conv2DAddFunction`` computes relu(conv(x, w) + b + r) with r
added in the output pass; ``models/fusion.py`` finds [pad] conv [BN] Add
[ReLU] in a graph. Checked here: every CPU path of the kernel against the
reference, the Function's gradients against a convolution, an Add and a ReLU
one by one, and whole residual blocks (ResNet v1 and v2, Xception's
separable block) against the same graph run layer by layer, in predict and
in fit.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import layers
from minicnn.autograd import Tensor
from minicnn.ops import kernels
from minicnn.ops.conv import conv2d, conv2d_reference_forward
from minicnn.ops.kernels import numba_conv, tapwise_conv
from minicnn.ops.shapes import WindowGeometry
from test_fused_groups import functions
from test_fusion import set_statistics, unfused

# (input shape, kernel, padding, filters, the path numba_conv takes)
PATHS = [((3, 7, 7, 5), 3, "valid", 6, "im2col"),
         ((3, 5, 5, 8), 1, "valid", 7, "pointwise"),
         ((2, 4, 4, 128), 3, "same", 16, "tapwise"),
         ((2, 16, 16, 16), 3, "same", 8, "winograd"),
         ((2, 2, 2, 24), 3, "same", 48, "wide")]


def path_of(x, w, geom):
    if tapwise_conv.pays(x, w, geom):
        return "tapwise"
    if numba_conv._winograd_pays(x, w, geom):
        return "winograd"
    if numba_conv._wide(x, w, geom):
        return "wide"
    return "pointwise" if geom.is_pointwise else "im2col"


@pytest.mark.parametrize("shape, k, padding, filters, path", PATHS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("relu, max_value, has_bias", [(False, None, True), (True, None, False), (True, 6.0, True)])
def test_every_cpu_path_adds_the_residual_as_the_reference(shape, k, padding, filters, path, dtype, relu, max_value,
                                                          has_bias):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    w = (rng.standard_normal((k, k, shape[3], filters)) / k).astype(dtype)
    b = rng.standard_normal(filters).astype(dtype) if has_bias else None
    geom = WindowGeometry.make(shape[1], shape[2], (k, k), (1, 1), padding)
    assert path_of(x, w, geom) == path
    r = (3 * rng.standard_normal((shape[0], geom.out_h, geom.out_w, filters))).astype(dtype)
    with kernels.use("numpy"):
        expected, _ = conv2d_reference_forward(x, w, b, geom, relu, False, max_value, r)
        plain, _ = conv2d_reference_forward(x, w, b, geom, False, False)
    ours, _ = numba_conv.conv2d_forward(x, w, b, geom, relu, False, max_value, r)
    summed = plain + r
    if relu:
        summed = np.clip(summed, 0, max_value)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(expected, summed, rtol=tol, atol=tol)
    assert ours.dtype == expected.dtype
    np.testing.assert_allclose(ours, expected, rtol=tol, atol=tol * np.abs(expected).max())
    assert (expected == 0).any() == relu  # the ReLU really cut something where asked


@pytest.mark.parametrize("implementation", ["numpy", "numba"])
@pytest.mark.parametrize("relu", [False, True])
def test_gradients_equal_a_convolution_an_add_and_a_relu(implementation, relu):
    """dL/dr is the gradient after the ReLU's slope; dx, dw, db those of the
    convolution given it."""
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((2, 6, 6, 3)), rng.standard_normal((3, 3, 3, 4)), rng.standard_normal(4),
              rng.standard_normal((2, 6, 6, 4))]
    grads, outputs = [], []
    with kernels.use(implementation):
        for fused in (True, False):
            x, w, b, r = (Tensor(a, requires_grad=True) for a in arrays)
            if fused:
                y = conv2d(x, w, b, padding="same", relu=relu, residual=r)
                assert [type(f).__name__ for f in functions(y)] == ["Conv2DAddFunction"]
            else:
                y = conv2d(x, w, b, padding="same") + r
                y = mc.ops.relu(y) if relu else y
            (y * y * np.linspace(0.5, 1.5, 4)).sum().backward()
            outputs.append(y.data)
            grads.append([t.grad for t in (x, w, b, r)])
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-12, atol=1e-12)
    for a, e in zip(*grads, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-11, atol=1e-11 * np.abs(e).max())


def test_a_residual_of_the_wrong_shape_is_a_clear_error():
    x, w = np.zeros((2, 5, 5, 3), np.float32), np.zeros((3, 3, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"Conv2D 'c': the residual added to its output has shape \(2, 5, 5, 4\), "
                                         r"the output has \(2, 3, 3, 4\)"):
        conv2d(x, w, layer="Conv2D 'c'", residual=np.zeros((2, 5, 5, 4), np.float32))


def resnet_v1_block(dtype="float64"):
    """conv -> BN -> ReLU -> conv -> BN -> Add(input) -> ReLU."""
    mc.utils.set_random_seed(11)
    inp = mc.Input((6, 6, 4), dtype=dtype)
    x = layers.Conv2D(4, 3, padding="same", use_bias=False, name="c1", dtype=dtype)(inp)
    x = layers.BatchNormalization(name="bn1", dtype=dtype)(x)
    x = layers.ReLU(name="r1", dtype=dtype)(x)
    x = layers.Conv2D(4, 3, padding="same", use_bias=False, name="c2", dtype=dtype)(x)
    x = layers.BatchNormalization(name="bn2", dtype=dtype)(x)
    x = layers.Add(name="add", dtype=dtype)([x, inp])
    out = layers.ReLU(name="r2", dtype=dtype)(x)
    return set_statistics(mc.Model(inp, out))


def resnet_v2_block(dtype="float64"):
    """Keras' ResNetV2 block with a projection shortcut: BN-ReLU, then a 1x1
    shortcut and 1x1 -> pad -> 3x3 -> 1x1 main branch, added."""
    mc.utils.set_random_seed(12)
    inp = mc.Input((6, 6, 4), dtype=dtype)
    pre = layers.ReLU(name="pre_relu", dtype=dtype)(layers.BatchNormalization(name="pre_bn", dtype=dtype)(inp))
    shortcut = layers.Conv2D(8, 1, name="shortcut", dtype=dtype)(pre)
    x = layers.Conv2D(2, 1, use_bias=False, name="c1", dtype=dtype)(pre)
    x = layers.ReLU(name="r1", dtype=dtype)(layers.BatchNormalization(name="bn1", dtype=dtype)(x))
    x = layers.ZeroPadding2D(name="pad", dtype=dtype)(x)
    x = layers.Conv2D(2, 3, use_bias=False, name="c2", dtype=dtype)(x)
    x = layers.ReLU(name="r2", dtype=dtype)(layers.BatchNormalization(name="bn2", dtype=dtype)(x))
    x = layers.Conv2D(8, 1, name="c3", dtype=dtype)(x)
    out = layers.Add(name="add", dtype=dtype)([shortcut, x])
    return set_statistics(mc.Model(inp, out))


def separable_block(dtype="float64"):
    """Xception's middle flow: ReLU -> SeparableConv2D -> BN -> Add(input)."""
    mc.utils.set_random_seed(13)
    inp = mc.Input((5, 5, 6), dtype=dtype)
    x = layers.ReLU(name="r", dtype=dtype)(inp)
    x = layers.SeparableConv2D(6, 3, padding="same", use_bias=False, name="sep", dtype=dtype)(x)
    x = layers.BatchNormalization(name="bn", dtype=dtype)(x)
    out = layers.Add(name="add", dtype=dtype)([x, inp])
    return set_statistics(mc.Model(inp, out))


BLOCKS = {
    "resnet_v1": (resnet_v1_block, [["c1", "bn1", "r1"], ["c2", "bn2", "add", "r2"]]),
    "resnet_v2": (resnet_v2_block, [["pre_bn", "pre_relu"], ["shortcut", "add"], ["c1", "bn1", "r1"],
                                    ["pad", "c2", "bn2", "r2"]]),
    "separable": (separable_block, [["sep", "bn", "add"]]),
}


def run(model, frozen_bn, training, dtype="float64"):
    """Output, gradients (input and trainable weights) and the Function names of one call."""
    for layer in model.layers:
        if layer.kind == "batch_norm" and frozen_bn:
            layer.trainable = False
    shape = (3, *model.inputs[0].shape[1:])
    x = Tensor(np.random.default_rng(4).standard_normal(shape).astype(dtype), requires_grad=True)
    y = model(x, training=training)
    names = [type(f).__name__ for f in functions(y)]
    (y * y).sum().backward()
    return [y.data, x.grad] + [w.grad for w in model.trainable_weights], names


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_the_add_joins_the_chain_before_it(block):
    build, groups = BLOCKS[block]
    assert sorted([l.name for l in group] for group, _ in build().fused_groups()) == sorted(groups)


@pytest.mark.parametrize("block", sorted(BLOCKS))
@pytest.mark.parametrize("dtype, tol", [("float32", 2e-6), ("float64", 1e-13)])
def test_predict_equals_the_layers_one_by_one(block, dtype, tol):
    build = BLOCKS[block][0]
    x = np.random.default_rng(2).standard_normal((4, *build(dtype).inputs[0].shape[1:])).astype(dtype)
    fused, plain = build(dtype).predict(x), unfused(build(dtype)).predict(x)
    np.testing.assert_allclose(fused, plain, rtol=tol, atol=tol * np.abs(plain).max())


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_fit_with_frozen_batch_norm_fuses_the_add_and_gradients_agree(block):
    """Fine-tuning a pretrained residual network: the convolutions train, the
    frozen BNs fold, the Add is inside the convolution, and every gradient (the
    input's too, which reaches it through both branches) is the layers' own."""
    build = BLOCKS[block][0]
    (fused, fused_names), (plain, plain_names) = (run(m, True, True) for m in (build(), unfused(build())))
    assert "Conv2DAddFunction" in fused_names and "Add" not in fused_names
    assert "Add" in plain_names and "Conv2DAddFunction" not in plain_names
    for a, e in zip(fused, plain, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-11, atol=1e-11 * np.abs(e).max())


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_a_batch_norm_on_batch_statistics_runs_its_add_unfused(block):
    """Training BN cannot fold, so its chain's Add stays a layer; results still equal."""
    build = BLOCKS[block][0]
    (fused, fused_names), (plain, _) = (run(m, False, True) for m in (build(), unfused(build())))
    if block != "resnet_v2":  # there the Add follows a conv without BN: it still fuses
        assert "Add" in fused_names and "Conv2DAddFunction" not in fused_names
    for a, e in zip(fused, plain, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-10 * np.abs(e).max())


def test_adds_that_do_not_fuse():
    """Three inputs, or sizes unknown until called: the Add stays a layer, and
    the graph still computes it."""
    inp = mc.Input((None, None, 3))
    out = layers.Add(name="add_any_size")([layers.Conv2D(3, 1, name="c")(inp), inp])
    model = mc.Model(inp, out)
    assert model.fused_groups() == []
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), unfused(model).predict(x), rtol=0, atol=0)
    inp = mc.Input((4, 4, 3))
    out = layers.Add(name="add3")([layers.Conv2D(3, 1, name="c")(inp), inp, inp])
    assert mc.Model(inp, out).fused_groups() == []


def test_an_add_subclass_with_its_own_call_is_not_fused():
    class ScaledAdd(layers.Add):
        def call(self, inputs):
            return inputs[0] + 2 * inputs[1]

    inp = mc.Input((4, 4, 3))
    model = mc.Model(inp, ScaledAdd()([layers.Conv2D(3, 1, name="c")(inp), inp]))
    assert model.fused_groups() == []
    x = np.ones((1, 4, 4, 3), np.float32)
    conv = model.get_layer("c")
    expected = x @ conv.kernel.numpy()[0, 0] + conv.bias.numpy() + 2 * x
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-6)
