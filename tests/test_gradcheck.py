"""Central-difference gradient checks, in float64, of every Function and layer.

For a function f with output y and a random "upstream gradient" r, the scalar
L = Σ y·r has dL/dx = the vector-Jacobian product backward computes. Each input
element (and each weight element) is nudged by ±eps and

    dL/dx_i ≈ (L(x_i + eps) - L(x_i - eps)) / (2·eps)

must agree with backward's answer to a relative error below 1e-6. Inputs are
drawn away from kinks (|x| = 0 for relu/abs, clip bounds, ties in max pooling)
where the derivative does not exist.
"""
import numpy as np
import pytest

from minicnn import activations, layers, losses, utils
from minicnn.autograd import Tensor, math_ops, no_grad
from minicnn.ops import activation_ops
from minicnn.ops import loss_ops, pool
from minicnn.ops.conv import conv2d

EPS = 1e-6
TOLERANCE = 1e-6
rng = np.random.default_rng(0)


def numeric_gradient(f, array):
    """d f() / d array by central differences, perturbing ``array`` in place."""
    grad = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + EPS
        up = f()
        array[idx] = old - EPS
        down = f()
        array[idx] = old
        grad[idx] = (up - down) / (2 * EPS)
    return grad


def relative_error(a, b):
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if scale < 1e-12 else np.linalg.norm(a - b) / scale


def check_gradients(forward, *arrays, weights=()):
    """Compare backward with central differences for each array and weight.

    ``forward(*tensors)`` returns a Tensor; ``weights`` are Variables that
    ``forward`` uses (a layer's kernel and bias). Returns the analytic grads.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    inputs = [Tensor(a, requires_grad=True) for a in arrays]
    for w in weights:
        assert w.dtype == np.float64, "build layers under the float64 fixture"
        w.grad = None
    out = forward(*inputs)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    analytic = [t.grad for t in inputs] + [w.grad for w in weights]

    def loss():
        with no_grad():
            return float((np.asarray(forward(*[Tensor(a) for a in arrays]).data) * upstream).sum())

    for i, (target, grad) in enumerate(zip(arrays + [w.data for w in weights], analytic)):
        assert grad is not None, f"backward gave no gradient for argument {i}"
        assert grad.shape == target.shape, f"argument {i}: gradient shape {grad.shape} != {target.shape}"
        err = relative_error(grad, numeric_gradient(loss, target))
        assert err < TOLERANCE, f"argument {i}: relative error {err:.2e}"
    for w in weights:
        w.grad = None
    return analytic


def away_from(kinks, shape, low=-3.0, high=3.0, gap=0.05):
    """Uniform values at least ``gap`` from every kink point."""
    x = rng.uniform(low, high, shape)
    for _ in range(100):
        bad = np.zeros(shape, bool)
        for k in kinks:
            bad |= np.abs(x - k) < gap
        if not bad.any():
            return x
        x[bad] = rng.uniform(low, high, int(bad.sum()))
    raise AssertionError("could not draw values away from the kinks")


def tie_free(shape):
    """A random permutation of well-separated values: no ties in any window."""
    return rng.permutation(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape) * 0.1


def positive(shape):
    return rng.uniform(0.5, 2.0, shape)


def normal(*shape):
    return rng.standard_normal(shape)


# -- math_ops ---------------------------------------------------------------------------
BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((4,), ())]


@pytest.mark.parametrize("shapes", BINARY_SHAPES)
@pytest.mark.parametrize("op", [math_ops.add, math_ops.sub, math_ops.mul, math_ops.div])
def test_binary_ops_with_broadcasting(op, shapes):
    a, b = normal(*shapes[0]), rng.uniform(0.5, 2.0, shapes[1]) * rng.choice([-1, 1], shapes[1])
    check_gradients(op, a, b)


def test_operators_with_python_numbers():
    check_gradients(lambda a: 2.0 * a - 1.5 + a / 3.0 - 4.0 / (a * a + 1.0), normal(3, 2))


@pytest.mark.parametrize("fn, make", [
    (math_ops.neg, lambda: normal(3, 4)),
    (math_ops.exp, lambda: normal(3, 4)),
    (math_ops.log, lambda: positive((3, 4))),
    (math_ops.sqrt, lambda: positive((3, 4))),
    (math_ops.absolute, lambda: away_from([0.0], (3, 4))),
    (lambda a: math_ops.power(a, 3), lambda: normal(3, 4)),
    (lambda a: math_ops.power(a, -2), lambda: positive((3, 4))),
    (lambda a: math_ops.power(a, 0.5), lambda: positive((3, 4))),
    (lambda a: math_ops.clip(a, -1.0, 1.0), lambda: away_from([-1.0, 1.0], (4, 5))),
])
def test_unary_ops(fn, make):
    check_gradients(fn, make())


@pytest.mark.parametrize("sa, sb", [((3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)),
                                    ((3, 4), (2, 4, 5))])
def test_matmul(sa, sb):
    check_gradients(math_ops.matmul, normal(*sa), normal(*sb))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (-1, -2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("reduce", [math_ops.sum, math_ops.mean])
def test_reductions(reduce, axis, keepdims):
    check_gradients(lambda a: reduce(a, axis=axis, keepdims=keepdims), normal(2, 3, 4))


def test_reshape_and_transpose():
    check_gradients(lambda a: math_ops.reshape(a, (4, -1)), normal(2, 3, 4))
    check_gradients(lambda a: math_ops.transpose(a), normal(2, 3, 4))
    check_gradients(lambda a: math_ops.transpose(a, (1, 2, 0)), normal(2, 3, 4))
    check_gradients(lambda a: a.T @ a, normal(3, 2))


@pytest.mark.parametrize("index", [
    1, (slice(None), 2), (slice(0, 3, 2), Ellipsis, slice(1, None)), (None, 0),
    np.array([0, 2, 0, 1, 0]),  # repeated rows: their gradients must add up
    (np.array([1, 1, 0]), np.array([2, 2, 3])),
    np.array([[True, False, True, False], [False, True, True, True], [True] * 4]),
])
def test_getitem(index):
    check_gradients(lambda a: a[index], normal(3, 4))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate(axis):
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for i, s in enumerate(shapes):
        s[axis] += i  # different sizes along the joined axis
    check_gradients(lambda *t: math_ops.concatenate(list(t), axis=axis), *[normal(*s) for s in shapes])


# -- convolution and pooling ops ----------------------------------------------------------
@pytest.mark.parametrize("kernel, strides, padding, dilation, bias", [
    ((3, 3), (1, 1), "valid", (1, 1), True),
    ((3, 2), (2, 1), "valid", (1, 1), True),
    ((3, 3), (2, 2), "same", (1, 1), False),
    ((2, 2), (1, 1), "same", (1, 1), True),
    ((4, 2), (3, 2), "same", (1, 1), True),
    ((2, 3), (1, 1), "valid", (2, 1), True),
    ((3, 3), (1, 1), "same", (2, 2), True),
])
def test_conv2d_op(kernel, strides, padding, dilation, bias):
    x, w = normal(2, 6, 5, 3), normal(*kernel, 3, 2)
    args = (x, w, normal(2)) if bias else (x, w)
    check_gradients(lambda *t: conv2d(*t[:2], t[2] if bias else None, strides, padding, dilation), *args)


@pytest.mark.parametrize("size, strides, padding", [
    ((2, 2), (2, 2), "valid"), ((3, 3), (1, 1), "valid"), ((3, 2), (2, 1), "same"), ((2, 2), (2, 2), "same"),
    ((3, 3), (2, 2), "same"),
])
def test_max_pool_op_tie_free(size, strides, padding):
    check_gradients(lambda x: pool.max_pool2d(x, size, strides, padding), tie_free((2, 5, 5, 2)))


@pytest.mark.parametrize("size, strides, padding", [
    ((2, 2), (2, 2), "valid"), ((3, 3), (1, 1), "valid"), ((3, 2), (2, 1), "same"), ((3, 3), (2, 2), "same"),
    ((4, 4), (3, 3), "same"),
])
def test_avg_pool_op(size, strides, padding):
    check_gradients(lambda x: pool.avg_pool2d(x, size, strides, padding), normal(2, 5, 5, 2))


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pool_ops(keepdims):
    check_gradients(lambda x: pool.global_avg_pool2d(x, keepdims), normal(2, 3, 4, 2))
    check_gradients(lambda x: pool.global_max_pool2d(x, keepdims), tie_free((2, 3, 4, 2)))


# -- activations ---------------------------------------------------------------------------
@pytest.mark.parametrize("fn, kinks", [
    (activations.relu, [0.0]),
    (activations.relu6, [0.0, 6.0]),
    (activations.leaky_relu, [0.0]),
    (lambda x: activations.relu(x, negative_slope=0.1, max_value=2.0, threshold=0.5), [0.5, 2.0]),
    (lambda x: activations.relu(x, threshold=-1.0), [-1.0]),
    (lambda x: activations.relu(x, max_value=1.5), [0.0, 1.5]),
    (activations.elu, [0.0]),
    (lambda x: activations.elu(x, alpha=0.5), [0.0]),
    (activations.sigmoid, []),
    (activations.tanh, []),
    (activations.linear, []),
    (activations.gelu, []),
    (lambda x: activations.gelu(x, approximate=True), []),
    (activations.softmax, []),
    (lambda x: activations.softmax(x, axis=0), []),
])
def test_activations(fn, kinks):
    check_gradients(fn, away_from(kinks, (4, 5), low=-7.0, high=7.0))


@pytest.mark.parametrize("make", [activation_ops.Sigmoid, activation_ops.Tanh, activation_ops.Softmax, activation_ops.ELU, activation_ops.GELU, lambda: activation_ops.GELU(approximate=True),
                                  lambda: activation_ops.ReLU(0.3)])
def test_activations_do_not_overflow_on_huge_inputs(make):
    """exp(1000) overflows; the stable formulas never compute it, forward or backward."""
    x = Tensor(np.array([[-1000.0, -50.0, -0.5, 0.5, 50.0, 1000.0]]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = make()(x)
        y.backward(np.ones(y.shape))
    assert np.isfinite(y.data).all() and np.isfinite(x.grad).all()


def test_softmax_and_its_cross_entropy_with_huge_logits():
    """Softmax is shift-invariant: rows offset by ±100 differentiate like unshifted ones."""
    z = normal(3, 4) + np.array([[100.0], [-100.0], [0.0]])
    check_gradients(activations.softmax, z)
    check_gradients(lambda t: loss_ops.SparseSoftmaxCrossEntropy()(t, np.array([0, 3, 1])), z)


# -- losses --------------------------------------------------------------------------------
def probabilities(n, k):
    p = rng.uniform(0.1, 1.0, (n, k))
    return p / p.sum(axis=1, keepdims=True)


LABELS = np.array([0, 2, 1, 3, 2])


@pytest.mark.parametrize("labels", [LABELS, LABELS[:, None], LABELS.astype(np.float32)])
def test_sparse_categorical_crossentropy(labels):
    scce = losses.SparseCategoricalCrossentropy
    check_gradients(lambda z: scce(from_logits=True)(labels, z), normal(5, 4) * 3)
    check_gradients(lambda p: scce()(labels, p), probabilities(5, 4))
    check_gradients(lambda z: scce()(labels, activations.softmax(z)), normal(5, 4) * 3)  # fused path


def test_categorical_crossentropy():
    cce = losses.CategoricalCrossentropy
    soft = probabilities(5, 4)  # soft targets exercise the general formula
    onehot = np.eye(4)[LABELS]
    for t in (soft, onehot):
        check_gradients(lambda z, t=t: cce(from_logits=True)(t, z), normal(5, 4) * 3)
        check_gradients(lambda p, t=t: cce()(t, p), probabilities(5, 4) * 2.0)  # unnormalised: renormalised
        check_gradients(lambda z, t=t: cce()(t, activations.softmax(z)), normal(5, 4) * 3)


@pytest.mark.parametrize("shape", [(6, 1), (6, 3)])
def test_binary_crossentropy(shape):
    bce = losses.BinaryCrossentropy
    t = rng.integers(0, 2, shape).astype(np.float64)
    t[0, 0] = 0.3  # soft label
    check_gradients(lambda z: bce(from_logits=True)(t, z), normal(*shape) * 4)
    check_gradients(lambda p: bce()(t, p), rng.uniform(0.05, 0.95, shape))
    check_gradients(lambda z: bce()(t, activations.sigmoid(z)), normal(*shape) * 4)
    if shape[1] == 1:  # targets (N,) against predictions (N, 1)
        check_gradients(lambda z: bce(from_logits=True)(t[:, 0], z), normal(*shape))


def test_regression_losses():
    t = normal(4, 3)
    check_gradients(lambda p: losses.MeanSquaredError()(t, p), normal(4, 3))
    check_gradients(lambda p: losses.MeanAbsoluteError()(t, p), t + away_from([0.0], (4, 3)))


def test_fused_cross_entropy_functions():
    z, soft, binary = normal(5, 4) * 5, probabilities(5, 4), rng.uniform(0, 1, (5, 4))
    check_gradients(lambda x: loss_ops.SparseSoftmaxCrossEntropy()(x, LABELS), z)
    check_gradients(lambda x: loss_ops.SoftmaxCrossEntropy()(x, soft), z)
    check_gradients(lambda x: loss_ops.SigmoidCrossEntropy()(x, binary), z)


# -- layers, with respect to inputs and weights -------------------------------------------------
def check_layer(layer, *inputs, training=False):
    """Gradient of ``layer`` wrt each input and each of its weights."""
    multi = len(inputs) > 1
    layer([Tensor(x) for x in inputs] if multi else Tensor(inputs[0]))  # builds it
    assert layer.built

    def forward(*xs):
        utils.set_random_seed(7)  # the same dropout mask on every call
        return layer(list(xs) if multi else xs[0], training=training)

    grads = check_gradients(forward, *inputs, weights=layer.trainable_weights)
    assert len(grads) == len(inputs) + len(layer.trainable_weights)


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.Dense(3), (4, 5)),
    (lambda: layers.Dense(3, activation="tanh", use_bias=False), (4, 5)),
    (lambda: layers.Dense(2, activation="softmax"), (2, 3, 4)),  # applied on the last axis
    (lambda: layers.Conv2D(3, 3), (2, 5, 5, 2)),
    (lambda: layers.Conv2D(2, (3, 2), strides=2, activation="sigmoid"), (2, 6, 5, 2)),
    (lambda: layers.Conv2D(2, 3, dilation_rate=2, padding="same"), (1, 6, 6, 2)),
    (lambda: layers.Conv2D(2, 2, padding="same", strides=(2, 1), use_bias=False), (2, 5, 4, 3)),
    (lambda: layers.Conv2D(2, 4, padding="same", bias_initializer="random_normal"), (1, 5, 5, 2)),
    # ReLU fused into the layer's Function (a pre-activation within ε of the kink is vanishingly unlikely)
    (lambda: layers.Dense(3, activation="relu", bias_initializer="random_normal"), (4, 5)),
    (lambda: layers.Dense(2, activation="relu"), (2, 3, 4)),
    (lambda: layers.Conv2D(3, 3, padding="same", activation="relu", bias_initializer="random_normal"), (2, 5, 5, 2)),
])
def test_weighted_layers(float64, make, shape):
    check_layer(make(), normal(*shape))


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.AveragePooling2D(), (2, 4, 5, 2)),
    (lambda: layers.AveragePooling2D(3, strides=2, padding="same"), (2, 5, 5, 2)),
    (lambda: layers.AveragePooling2D((2, 3), strides=1, padding="same"), (1, 4, 4, 2)),
    (lambda: layers.GlobalAveragePooling2D(), (2, 3, 4, 2)),
    (lambda: layers.GlobalAveragePooling2D(keepdims=True), (2, 3, 4, 2)),
    (lambda: layers.Flatten(), (2, 3, 4, 2)),
    (lambda: layers.Reshape((-1, 4)), (2, 3, 4, 2)),
    (lambda: layers.Dropout(0.5), (3, 6)),
    (lambda: layers.Activation("gelu"), (3, 6)),
    (lambda: layers.Activation("softmax"), (3, 6)),
])
def test_layers_without_kinks(float64, make, shape):
    check_layer(make(), normal(*shape))


@pytest.mark.parametrize("make", [
    lambda: layers.MaxPooling2D(), lambda: layers.MaxPooling2D(3, strides=1),
    lambda: layers.MaxPooling2D(3, strides=2, padding="same"), lambda: layers.GlobalMaxPooling2D(),
])
def test_max_pooling_layers_tie_free(float64, make):
    check_layer(make(), tie_free((2, 5, 5, 3)))


def test_dropout_in_training_matches_its_mask(float64):
    layer = layers.Dropout(0.5)
    check_layer(layer, normal(4, 6), training=True)
    utils.set_random_seed(7)
    y = layer(Tensor(np.ones((4, 6))), training=True).numpy()
    assert set(np.unique(y)) == {0.0, 2.0}  # dropped or scaled by 1/(1 - rate)


@pytest.mark.parametrize("make, shapes", [
    (lambda: layers.Add(), [(2, 3, 4)] * 3),
    (lambda: layers.Multiply(), [(2, 3, 4)] * 2),
    (lambda: layers.Concatenate(), [(2, 3, 4), (2, 3, 2)]),
    (lambda: layers.Concatenate(axis=1), [(2, 1, 4), (2, 3, 4)]),
])
def test_merge_layers(float64, make, shapes):
    check_layer(make(), *[normal(*s) for s in shapes])


def test_frozen_layer_gets_no_weight_gradient(float64):
    layer = layers.Dense(2)
    layer(Tensor(normal(3, 4)))
    layer.trainable = False
    x = Tensor(normal(3, 4), requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and layer.kernel.grad is None and layer.bias.grad is None
