"""``minicnn.ops``: every differentiable function gradchecked in float64, the
non-differentiable ones (comparisons, argmax) giving values with no gradient,
the same results as NumPy and as ``keras.ops``' documented semantics, and NumPy
ufuncs on a Tensor staying inside the graph."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import ops
from minicnn.autograd import Tensor
from tests.test_gradcheck import away_from, check_gradients, normal, positive, rng, tie_free


@pytest.mark.parametrize("fn, make", [
    (ops.square, lambda: normal(3, 4)),
    (ops.sin, lambda: normal(3, 4)),
    (ops.cos, lambda: normal(3, 4)),
    (ops.tanh, lambda: normal(3, 4)),
    (ops.sigmoid, lambda: normal(3, 4)),
    (ops.relu, lambda: away_from([0.0], (3, 4))),
    (ops.gelu, lambda: normal(3, 4)),
    (lambda a: ops.softmax(a, axis=0), lambda: normal(3, 4)),
    (ops.abs, lambda: away_from([0.0], (3, 4))),
    (lambda a: ops.expand_dims(a, -1) * ops.expand_dims(a, 1), lambda: normal(3, 4)),
    (lambda a: ops.squeeze(a, axis=1), lambda: normal(3, 1, 4)),
    (lambda a: ops.cast(ops.cast(a, "float32"), "float64") * 0 + a * 2, lambda: normal(3, 4)),
])
def test_unary_functions_gradcheck(fn, make):
    check_gradients(fn, make())


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2), -1])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("reduce", [ops.max, ops.min])
def test_max_and_min_reductions_gradcheck(reduce, axis, keepdims):
    x = tie_free((2, 3, 4))
    out = reduce(Tensor(x), axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(out.data, getattr(np, reduce.__name__)(x, axis=axis, keepdims=keepdims))
    check_gradients(lambda a: reduce(a, axis=axis, keepdims=keepdims), x)


def test_tied_maxima_share_the_gradient_equally_as_tensorflow_does():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    ops.max(x, axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    x.grad = None
    x.max().backward()  # the Tensor method is the same Function
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [0, 0, 0]])


@pytest.mark.parametrize("fn", [ops.maximum, ops.minimum])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4))])
def test_elementwise_maximum_and_minimum_gradcheck(fn, shapes):
    a, b = normal(*shapes[0]), normal(*shapes[1]) + 0.01  # no exact ties
    np.testing.assert_array_equal(fn(Tensor(a), Tensor(b)).data, getattr(np, fn.__name__)(a, b))
    check_gradients(fn, a, b)


def test_where_masks_each_gradient_by_the_condition():
    condition = rng.uniform(size=(3, 4)) > 0.5
    check_gradients(lambda x, y: ops.where(condition, x, y), normal(3, 4), normal(4))
    x = Tensor(normal(3, 4), requires_grad=True)
    ops.where(x > 0, x, 0.0).sum().backward()  # a ReLU written by hand
    np.testing.assert_array_equal(x.grad, (x.data > 0).astype(float))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack_and_concatenate_gradcheck(axis):
    check_gradients(lambda *t: ops.stack(list(t), axis=axis), normal(2, 3), normal(2, 3), normal(2, 3))
    check_gradients(lambda *t: ops.concatenate(list(t), axis=axis), normal(2, 3), normal(2, 3))
    assert ops.concatenate([Tensor(np.ones((2, 3)))] * 2).shape == (4, 3)  # Keras' default: axis 0


def test_comparisons_and_argmax_are_values_without_gradient():
    a, b = normal(3, 4), normal(3, 4)
    x = Tensor(a, requires_grad=True)
    for got, want in [(x > b, a > b), (x >= b, a >= b), (x < b, a < b), (x <= b, a <= b),
                      (ops.greater(x, b), a > b), (ops.less_equal(x, 0.0), a <= 0),
                      (ops.equal(x, a), np.ones_like(a, bool)), (ops.not_equal(x, b), a != b),
                      (ops.argmax(x, axis=1), a.argmax(1)), (ops.argmin(x), a.argmin()),
                      (np.greater(x, b), a > b)]:
        assert not got.requires_grad and got.creator is None
        np.testing.assert_array_equal(got.data, want)
    assert {x: 1}[x] == 1  # == keeps identity: Tensors stay usable as dict keys


@pytest.mark.parametrize("ufunc, own", [(np.tanh, ops.tanh), (np.exp, ops.exp), (np.sqrt, ops.sqrt),
                                        (np.log, ops.log), (np.square, ops.square), (np.abs, ops.abs),
                                        (np.sin, ops.sin), (np.cos, ops.cos)])
def test_numpy_ufuncs_on_a_tensor_run_the_differentiable_function(ufunc, own):
    a = positive((3, 4))
    x = Tensor(a, requires_grad=True)
    y = ufunc(x)
    assert isinstance(y, Tensor) and y.creator is not None
    np.testing.assert_allclose(y.data, ufunc(a))
    y.sum().backward()
    via_numpy = x.grad
    x.grad = None
    own(x).sum().backward()
    np.testing.assert_allclose(via_numpy, x.grad)
    check_gradients(ufunc, a)


@pytest.mark.parametrize("call", [np.floor, np.maximum.reduce, np.sinh, lambda t: np.add(t, 1.0, dtype=np.float32)])
def test_other_numpy_functions_are_refused_with_the_way_out(call):
    with pytest.raises(TypeError, match="outside the gradient graph.*minicnn.ops"):
        call(Tensor(np.array([1.0, 2.0]), requires_grad=True))


def test_a_custom_layer_written_with_numpy_and_ops_trains_the_layer_before_it():
    """The issue's case: np.tanh inside call used to detach the Dense before it."""
    class Squash(mc.layers.Layer):
        def call(self, x):
            return np.tanh(x) * ops.sigmoid(ops.maximum(x, -1.0))

    model = mc.Sequential([mc.Input((3,)), mc.layers.Dense(2), Squash(), mc.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    before = model.layers[0].kernel.numpy().copy()
    model.fit(rng.standard_normal((16, 3)).astype("float32"), np.ones((16, 1), "float32"), epochs=1, verbose=0)
    assert np.abs(model.layers[0].kernel.numpy() - before).max() > 0


def test_squeeze_of_an_axis_that_is_not_one_is_a_clear_error():
    with pytest.raises(ValueError, match=r"axis 1 of a tensor of shape \(2, 3\) has length 3"):
        ops.squeeze(Tensor(np.ones((2, 3))), axis=1)


def test_the_namespace_has_every_name_it_lists():
    assert len(ops.__all__) == len(set(ops.__all__))
    for name in ops.api.__all__:
        assert callable(getattr(ops, name)), name
