"""Build one layer in both libraries and compare everything it computes.

``compare_layer("Conv2D", {"filters": 4, "kernel_size": 3}, (2, 9, 7, 3), "float64", seed, stats)``

1. builds ``keras.layers.Conv2D(**kwargs)`` and ``minicnn.layers.Conv2D(**kwargs)``
   (the API names match, so one case entry describes both);
2. gives the Keras layer random weights and copies them into minicnn with
   ``set_weights`` (this also checks that weight shapes and order agree);
3. feeds both the same random inputs and compares output shape, the
   ``compute_output_shape`` answer and ``count_params``;
4. compares forward outputs, then gradients of sum(output * R) (R a fixed
   random cotangent) with respect to every input and every trainable weight:
   Keras' through ``tf.GradientTape``, minicnn's through ``backward()``.
"""
from __future__ import annotations

import functools

import numpy as np

import minicnn as mc
from minicnn.autograd import Tensor

from .harness import keras_modules, random_weights


def tf_constant_overrides(kwargs, dtype):
    """(minicnn kwargs, Keras kwargs) that undo TensorFlow's float32 constants.

    TensorFlow rounds two constants to float32 even for float64 tensors: the
    LeakyRelu op's slope attribute (0.2 -> 0.20000000298) and, in ``tf.nn.gelu``,
    sqrt(1/2) (``math_ops.cast`` of a Python float goes through float32). That
    is a relative difference of ~1e-8, above the float64 tolerance, and not a
    difference in the math. So minicnn gets the slope TensorFlow really uses
    (the LeakyReLU layer's ``negative_slope`` too: the same op), and Keras'
    gelu is computed with the float64 constant, in TensorFlow ops.
    See parity/DIFFERENCES.md.
    """
    _, tf = keras_modules()
    if "negative_slope" in kwargs:
        return {"negative_slope": float(np.float32(kwargs["negative_slope"]))}, {}
    activation = kwargs.get("activation")
    if activation == "leaky_relu":
        return {"activation": functools.partial(mc.activations.leaky_relu,
                                                negative_slope=float(np.float32(0.2)))}, {}
    if activation == "gelu" and dtype == "float64":
        def gelu(x):
            return 0.5 * x * tf.math.erfc(-x * tf.constant(np.sqrt(0.5), dtype=x.dtype))
        return {}, {"activation": gelu}
    return {}, {}


def compare_layer(cls_name, kwargs, input_shape, dtype, seed, stats):
    keras, tf = keras_modules()
    rng = np.random.default_rng(seed)
    multi = isinstance(input_shape, list)
    shapes = input_shape if multi else [input_shape]
    xs = [rng.standard_normal(s).astype(dtype) for s in shapes]

    mc_kwargs, keras_kwargs = tf_constant_overrides(kwargs, dtype)
    k_layer = getattr(keras.layers, cls_name)(dtype=dtype, **{**kwargs, **keras_kwargs})
    m_layer = getattr(mc.layers, cls_name)(dtype=dtype, **{**kwargs, **mc_kwargs})
    k_layer.build(shapes if multi else shapes[0])
    k_layer.set_weights(random_weights(k_layer, rng))

    k_in = [tf.constant(x) for x in xs]
    with tf.GradientTape() as tape:
        tape.watch(k_in)
        k_out = k_layer(k_in if multi else k_in[0], training=False)
        cotangent = tf.constant(rng.standard_normal(tuple(k_out.shape)).astype(dtype))
        k_loss = tf.reduce_sum(k_out * cotangent)
    k_weights = list(k_layer.trainable_weights)
    k_grads = tape.gradient(k_loss, k_in + k_weights)

    m_in = [Tensor(x.copy(), requires_grad=True) for x in xs]
    with mc.no_grad():
        m_layer([t.detach() for t in m_in] if multi else m_in[0].detach(), training=False)  # builds it
    m_layer.set_weights(k_layer.get_weights())
    m_out = m_layer(m_in if multi else m_in[0], training=False)
    (m_out * Tensor(cotangent.numpy())).sum().backward()

    symbolic = [(None, *s[1:]) for s in shapes]
    stats.equal("output shape", tuple(m_out.shape), tuple(k_out.shape))
    stats.equal("compute_output_shape", tuple(m_layer.compute_output_shape(symbolic if multi else symbolic[0])),
                tuple(k_layer.compute_output_shape(symbolic if multi else symbolic[0])))
    stats.equal("count_params", m_layer.count_params(), k_layer.count_params())
    stats.equal("output dtype", str(m_out.dtype), dtype)
    stats.compare("forward output", m_out.numpy(), k_out.numpy(), dtype)

    m_weights = m_layer.trainable_weights
    stats.equal("number of trainable weights", len(m_weights), len(k_weights))
    for i, (t, g) in enumerate(zip(m_in, k_grads[:len(m_in)])):
        stats.compare(f"gradient wrt input {i}", _grad(t), g.numpy(), dtype, "grad")
    for w_mc, w_k, g in zip(m_weights, k_weights, k_grads[len(m_in):]):
        stats.compare(f"gradient wrt weight '{w_k.name}'", _grad(w_mc), g.numpy(), dtype, "grad")


def _grad(tensor):
    return np.zeros(tensor.shape) if tensor.grad is None else mc.backend.to_numpy(tensor.grad)
