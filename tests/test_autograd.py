"""The autograd engine itself: graph order, accumulation, no_grad, freeing memory."""
import gc
import sys
import weakref

import numpy as np
import pytest

import minicnn as mc
from minicnn import layers
from minicnn.autograd import Function, Tensor, math_ops, no_grad


def test_deep_chain_needs_no_recursion():
    """5000 chained ops: far beyond Python's recursion limit for a recursive walk."""
    depth = 5000
    assert depth > sys.getrecursionlimit()
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    y = x
    for _ in range(depth):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** depth] * 2, rtol=1e-10)


def test_reused_tensor_accumulates_x_times_x():
    x = Tensor(np.array([1.5, -2.0, 3.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_two_branches_add_their_gradients():
    x = Tensor(np.array([0.3, -0.7]), requires_grad=True)
    (x * 3.0 + math_ops.exp(x)).sum().backward()
    np.testing.assert_allclose(x.grad, 3.0 + np.exp(x.data))


def test_branches_of_different_depth_are_processed_in_topological_order():
    """h feeds a long branch and a short one; its creator must run once, after both."""
    x = Tensor(np.array([0.2, 0.4]), requires_grad=True)
    h = x * 2.0
    long_branch = h
    for _ in range(10):
        long_branch = math_ops.sqrt(long_branch * long_branch + 1.0)
    (long_branch + h * h).sum().backward()
    # d/dh of the long branch: f_k = sqrt(f_{k-1}^2 + 1), f_0 = h; df_k/df_{k-1} = f_{k-1}/f_k
    f = [2.0 * x.data]
    for _ in range(10):
        f.append(np.sqrt(f[-1] ** 2 + 1.0))
    d_long = np.prod([f[k - 1] / f[k] for k in range(1, 11)], axis=0)
    np.testing.assert_allclose(x.grad, 2.0 * (d_long + 2 * f[0]), rtol=1e-12)


def test_leaf_gradient_accumulates_across_backward_calls():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 2.0).sum().backward()
    (x * 5.0).sum().backward()
    np.testing.assert_allclose(x.grad, [7.0, 7.0])


def test_constants_get_no_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = Tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    assert c.grad is None and c.creator is None
    np.testing.assert_allclose(x.grad, [3.0, 4.0])


def test_no_grad_records_nothing():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = math_ops.exp(x * 2.0).sum()
    assert y.creator is None and not y.requires_grad
    y.backward()
    assert x.grad is None
    z = (x * 2.0).sum()  # recording is back on after the block
    assert z.creator is not None and z.requires_grad


def test_no_grad_restores_state_after_an_exception():
    x = Tensor(np.ones(3), requires_grad=True)
    try:
        with no_grad():
            raise KeyError("boom")
    except KeyError:
        pass
    assert (x * 1.0).creator is not None


def test_graph_is_freed_after_backward_even_while_the_loss_lives():
    x = Tensor(np.ones((4, 4)), requires_grad=True)
    h = math_ops.exp(x * 2.0)
    h_ref, fn_ref = weakref.ref(h), weakref.ref(h.creator)
    loss = (h * h).sum()
    del h
    assert h_ref() is not None and fn_ref() is not None  # the graph holds them until backward
    loss.backward()
    assert h_ref() is None, "intermediate tensor still alive after backward"
    assert fn_ref() is None, "Function (and its saved arrays) still alive after backward"
    assert loss.creator is None and x.grad is not None


def test_retain_graph_keeps_the_graph_for_a_second_backward():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    x.grad = None
    y.grad = None
    y.backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])


def test_two_losses_on_one_retained_graph_do_not_double_count():
    """loss_a.backward(retain_graph=True) leaves gradients on intermediates; loss_b must not reuse them."""
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3.0
    loss_a, loss_b = (h * h).sum(), h.sum()
    loss_a.backward(retain_graph=True)
    loss_b.backward()
    np.testing.assert_allclose(x.grad, 18.0 * x.data + 3.0)


def _live(kind):
    return sum(issubclass(type(o), kind) for o in gc.get_objects())  # type(): safe on dead weak proxies


def test_memory_does_not_grow_across_training_steps():
    model = mc.Sequential([mc.Input((6, 6, 2)), layers.Conv2D(3, 3, activation="relu"), layers.MaxPooling2D(),
                           layers.Flatten(), layers.Dropout(0.2), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 6, 6, 2)).astype("float32"), rng.integers(0, 3, 8)
    counts = []
    for _ in range(6):
        model.train_on_batch(x, y)
        gc.collect()
        counts.append((_live(Function), _live(Tensor)))
    assert counts[-1] == counts[1], f"live (Functions, Tensors) per step: {counts}"
    assert counts[-1][0] == 0, "no Function should outlive its training step"


def test_forward_knows_which_gradients_backward_will_want():
    """``needs_input_grad`` is set before forward runs (all False when nothing
    is recorded), so forward can skip keeping what no backward will read."""
    seen = []

    class Spy(Function):
        def forward(self, a, b):
            seen.append(self.needs_input_grad)
            return a * b

        def backward(self, g):
            return g, g

    x, c = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2))
    Spy()(x, c)
    with no_grad():
        Spy()(x, c)
    Spy()(c, c)
    assert seen == [(True, False), (False, False), (False, False)]


def test_numpy_arithmetic_with_a_tensor_stays_in_the_graph():
    """``ndarray * tensor`` (and +, -, /, @, unary -) run the Tensor's own operators."""
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    w = np.array([2.0, -1.0, 0.5])
    y = (w * x) + (w - x) - (w / (x + 1.0)) + (-x)
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, w - 1.0 + w / (x.data + 1.0) ** 2 - 1.0)
    m = Tensor(np.eye(3), requires_grad=True)
    z = np.ones((2, 3)) @ m
    assert isinstance(z, Tensor) and z.creator is not None
