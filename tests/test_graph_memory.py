"""A functional graph frees each intermediate value after its last reader (``models/functional.py``).

In ``predict`` nothing else holds a layer's output once the layers that read it
have run, so peak memory is a few activations, not the sum of all of them, and
later layers reuse memory that is still in the cache. Values read by several
layers (a residual block's input) must live until the last of them.
"""
import tracemalloc

import numpy as np

import minicnn as mc
from minicnn import layers
from minicnn.models.functional import run_graph


def deep_model(depth=30):
    inp = mc.Input((64, 64, 16))
    x = inp
    for i in range(depth):
        x = layers.Activation("tanh", name=f"act{i}")(x)
    return mc.Model(inp, x)


def test_predict_peaks_at_a_few_activations_not_at_all_of_them():
    model = deep_model()
    x = np.random.default_rng(0).standard_normal((8, 64, 64, 16)).astype(np.float32)
    model.predict_on_batch(x)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        model.predict_on_batch(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 30 layers of 2 MiB each: holding every output would peak above 60 MiB
    assert peak < 5 * x.nbytes, f"predict peaked at {peak / x.nbytes:.1f} activations"


def test_only_the_outputs_are_left_and_shared_values_live_until_their_last_reader():
    inp = mc.Input((4,))
    a = layers.Dense(4, name="a")(inp)
    b = layers.Dense(4, name="b")(a)
    c = layers.Add(name="c")([a, b])  # a is read by b and by c
    out = layers.Dense(2, name="out")(c)
    model = mc.Model(inp, [out, a])  # a is also an output
    g = model._graph
    x = np.ones((3, 4), np.float32)
    values = {id(g["inputs"][0]): mc.autograd.Tensor(x)}
    outs = run_graph(g["nodes"], g["inputs"], g["outputs"], values, False, g["chains"])
    assert set(values) == {id(t) for t in g["outputs"]}
    wa, ba = model.get_layer("a").get_weights()
    np.testing.assert_allclose(outs[1].data, x @ wa + ba, rtol=1e-6)
    expected = model.get_layer("out")(model.get_layer("c")([outs[1], model.get_layer("b")(outs[1])]))
    np.testing.assert_allclose(outs[0].data, expected.data, rtol=1e-6)
