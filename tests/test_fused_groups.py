"""Layers that run fused, and that users can see it.

``Sequential.fused_groups`` is the one place that decides which neighbours run
as one Function (a Conv2D(relu) and the MaxPooling2D after it,
``ops/conv_pool.py``); ``call`` runs them that way, ``summary()`` lists them
below Keras' table and ``explain()`` notes them on both layers.
"""
from __future__ import annotations

import numpy as np

import minicnn as mc
from minicnn import layers
from minicnn.autograd import Tensor
from minicnn.models.explain import explain_model
from minicnn.models.summary import fusion_note
from minicnn.ops.conv_pool import Conv2DReLUMaxPoolFunction


def stack(pool=layers.MaxPooling2D):
    """c1+p1 fuse; c2 (tanh) and p2 do not; c3 is followed by an average pool."""
    return [layers.Conv2D(4, 3, padding="same", activation="relu", name="c1"), pool(2, name="p1"),
            layers.Conv2D(4, 3, padding="same", activation="tanh", name="c2"), layers.MaxPooling2D(2, name="p2"),
            layers.Conv2D(4, 1, activation="relu", name="c3"), layers.AveragePooling2D(1, name="p3"),
            layers.Flatten(name="flat"), layers.Dense(3, activation="relu", name="fc")]


def model(pool=layers.MaxPooling2D):
    return mc.Sequential([mc.Input((12, 12, 3)), *stack(pool)], name="fusing")


def functions(y):
    """Every Function the graph behind ``y`` was computed by."""
    seen, todo = [], [y]
    while todo:
        t = todo.pop()
        if t.creator is not None and all(t.creator is not f for f in seen):
            seen.append(t.creator)
            todo += list(t.creator.inputs)
    return seen


def test_only_a_conv_relu_then_max_pool_pair_is_fused():
    assert [(a.name, b.name) for (a, b), _ in model().fused_groups()] == [("c1", "p1")]


def test_call_runs_each_fused_pair_as_one_function():
    m = model()
    y = m(Tensor(np.ones((2, 12, 12, 3), np.float32), requires_grad=True), training=True)
    fused = [f for f in functions(y) if isinstance(f, Conv2DReLUMaxPoolFunction)]
    assert len(fused) == len(m.fused_groups()) == 1


def test_summary_lists_the_fused_groups_below_keras_table_and_totals():
    lines = []
    model().summary(print_fn=lines.append)
    end = next(i for i, line in enumerate(lines) if line.startswith(" Non-trainable params:"))
    assert lines[end - 2].startswith(" Total params:") and lines[end - 1].startswith(" Trainable params:")
    assert lines[end + 1:] == ["", " c1 (Conv2D) + p1 (MaxPooling2D) run as one fused Function "
                                   "(minicnn/ops/conv_pool.py)"]


def test_models_that_run_every_layer_alone_add_no_note():
    unbuilt = mc.Sequential(stack())
    for m in (unbuilt, model(pool=layers.AveragePooling2D)):
        assert m.fused_groups() == []
    lines = []
    model(pool=layers.AveragePooling2D).summary(print_fn=lines.append)
    assert lines[-1].startswith(" Non-trainable params:")
    unbuilt(np.ones((1, 12, 12, 3), np.float32))  # the first call builds it; the next ones fuse
    assert [a.name for (a, _), _ in unbuilt.fused_groups()] == ["c1"]


def test_a_functional_graph_fuses_the_same_pair_and_computes_the_same():
    """The graph planner (``models/fusion.py``) finds c1 + p1 too, and the
    result equals the Sequential's, which fuses the same pair its own way."""
    inp = mc.Input((12, 12, 3))
    x = inp
    for layer in stack():
        x = layer(x)
    functional = mc.Model(inp, x)
    assert [([l.name for l in group], where) for group, where in functional.fused_groups()] == [
        (["c1", "p1"], "minicnn/models/fusion.py")]
    sequential = mc.Sequential([mc.Input((12, 12, 3)), *functional.layers[1:]])
    images = np.random.default_rng(0).standard_normal((2, 12, 12, 3)).astype(np.float32)
    np.testing.assert_array_equal(functional.predict(images), sequential.predict(images))


def test_explain_notes_the_fusion_on_both_layers():
    m = model()
    e = explain_model(m)
    note = fusion_note((m.get_layer("c1"), m.get_layer("p1")), "minicnn/ops/conv_pool.py")
    assert {ex.name: ex.fusion for ex in e.layers if ex.fusion} == {"c1": note, "p1": note}
    lines = []
    m.explain(print_fn=lines.append)
    assert sum(line.strip() == f"fused          {note}" for line in lines) == 2


def test_a_nested_sequential_explains_its_own_fused_groups():
    inp = mc.Input((12, 12, 3))
    block = mc.Sequential([layers.Conv2D(2, 3, activation="relu", name="inner_conv"),
                           layers.MaxPooling2D(2, name="inner_pool")])
    e = explain_model(mc.Model(inp, layers.Flatten()(block(inp))))
    children = e.layers[0].children
    assert [c.name for c in children if c.fusion] == ["inner_conv", "inner_pool"]


def test_a_max_pool_subclass_with_its_own_call_is_not_fused():
    class DoubledMaxPool(layers.MaxPooling2D):
        def call(self, inputs):
            return super().call(inputs) * 2.0

    class RenamedMaxPool(layers.MaxPooling2D):
        """No call of its own: still a max pool, still fused."""

    assert layers.MaxPooling2D.fusable_after_conv_relu and RenamedMaxPool.fusable_after_conv_relu
    assert not DoubledMaxPool.fusable_after_conv_relu
    m = model(pool=DoubledMaxPool)
    assert m.fused_groups() == []
    x = np.random.default_rng(0).standard_normal((1, 12, 12, 3)).astype(np.float32)
    conv, pool = m.layers[:2]
    np.testing.assert_allclose(pool(conv(x)).numpy(), 2.0 * layers.MaxPooling2D(2)(conv(x)).numpy())
