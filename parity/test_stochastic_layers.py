"""Random layers in training mode: what can be compared with Keras, compared.

Two libraries' random streams differ, so outputs cannot be compared draw for
draw. What is compared instead:

* Dropout: the kept fraction, statistically — over N = 100,000 ones the
  fraction kept is Binomial(N, 1 - rate)/N, and must lie within Z = 5
  standard deviations sqrt(rate·(1 - rate)/N) of 1 - rate (a correct layer
  fails this about once in 1.7 million cases), every kept value being exactly
  1/(1-rate); and exactly, given the mask minicnn drew
  (read from its output), Keras' own formula, ``where(keep, x · 1/(1-rate), 0)``
  (``tf.nn.dropout``), for the output and, through GradientTape, the gradient.
* RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomContrast:
  minicnn's layer draws its parameters (``get_random_transformation``) and
  applies them (``transform_images``); Keras' layer of the same configuration
  applies the *same* parameters through its own ``transform_images`` (its
  affine matrix built by its own code from the angle, zooms or shifts), so the
  transform maths, fill modes and interpolation are compared exactly. The
  same case also checks that minicnn's training call is those two steps.
  float32 only: Keras' image layers compute in float32.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import strategies as st

import minicnn as mc
from minicnn.autograd import Tensor

from .harness import DTYPES, Row, keras_modules

Z = 5.0
STATISTIC_SIZE = 100_000  # elements per keep-rate test: σ <= 0.0016
seeds = st.integers(0, 2**31 - 1)


# -- Dropout ---------------------------------------------------------------------------------
@st.composite
def dropout_case(draw):
    shape = (draw(st.integers(1, 8)), draw(st.integers(1, 40)), draw(st.integers(1, 40)), draw(st.integers(1, 8)))
    return draw(st.floats(0.05, 0.9)), shape, draw(st.sampled_from(DTYPES)), draw(seeds)


def check_dropout(case, stats):
    keras, tf = keras_modules()
    rate, shape, dtype, seed = case
    rng = np.random.default_rng(seed)
    _check_keep_rate(rate, dtype, seed, stats)
    x = (rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)).astype(dtype)  # no zeros: keep = y != 0
    cotangent = rng.standard_normal(shape).astype(dtype)
    layer = mc.layers.Dropout(rate, seed=seed, dtype=dtype)
    m_in = Tensor(x.copy(), requires_grad=True)
    m_out = layer(m_in, training=True)
    (m_out * Tensor(cotangent)).sum().backward()
    keep = m_out.numpy() != 0

    k_in = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(k_in)
        scale = tf.constant(1 / (1 - rate), dtype=dtype)
        k_out = tf.where(tf.constant(keep), k_in * scale, tf.zeros_like(k_in))  # tf.nn.dropout given the mask
        k_loss = tf.reduce_sum(k_out * cotangent)
    stats.compare("output given the mask", m_out.numpy(), k_out.numpy(), dtype)
    stats.compare("gradient given the mask", m_in.grad, tape.gradient(k_loss, k_in).numpy(), dtype, "grad")


def _check_keep_rate(rate, dtype, seed, stats, n=STATISTIC_SIZE):
    """Ones through the layer: the kept fraction within Z·σ of 1 - rate, every kept value
    exactly 1/(1-rate) in the dtype (so the mean, kept/(1-rate), is 1 within Z·σ/(1-rate))."""
    out = mc.layers.Dropout(rate, seed=seed + 1, dtype=dtype)(np.ones((n,), dtype), training=True).numpy()
    kept = out != 0
    stats.equal("kept values", set(out[kept].tolist()), {float(np.asarray(1 / (1 - rate), dtype))})
    sigma = math.sqrt(rate * (1 - rate) / n)
    z = abs(float(kept.mean()) - (1 - rate)) / sigma
    stats.figure("worst distance of the kept fraction from 1-rate, in σ", z)
    if not z <= Z:
        raise AssertionError(f"Dropout({rate}): kept {kept.mean():.5f} of {n}, expected {1 - rate:.5f} ± {Z}σ "
                             f"(σ = {sigma:.2e}): {z:.1f}σ away")


# -- the augmentation layers -----------------------------------------------------------------
def affine_kwargs(draw):
    return {"fill_mode": draw(st.sampled_from(["reflect", "wrap", "constant", "nearest"])),
            "interpolation": draw(st.sampled_from(["bilinear", "nearest"])),
            "fill_value": draw(st.sampled_from([0.0, 7.5]))}


def factor(draw, low, high):
    if draw(st.booleans()):
        return draw(st.floats(low, high))
    return tuple(sorted((draw(st.floats(-high, high)), draw(st.floats(-high, high)))))


AUGMENTATIONS = {  # layer: a function drawing its keyword arguments
    "RandomFlip": lambda draw: {"mode": draw(st.sampled_from(["horizontal", "vertical",
                                                              "horizontal_and_vertical"]))},
    "RandomRotation": lambda draw: {"factor": factor(draw, 0.0, 0.5), **affine_kwargs(draw)},
    "RandomZoom": lambda draw: {"height_factor": factor(draw, 0.0, 0.6),
                                "width_factor": draw(st.one_of(st.none(), st.floats(0.0, 0.6))),
                                **affine_kwargs(draw)},
    "RandomTranslation": lambda draw: {"height_factor": factor(draw, 0.0, 0.5),
                                       "width_factor": factor(draw, 0.0, 0.5), **affine_kwargs(draw)},
    "RandomContrast": lambda draw: {"factor": draw(st.one_of(
        st.floats(0.0, 1.0), st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0))))},
}


@st.composite
def augmentation_case(draw, name):
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 4)))
    return AUGMENTATIONS[name](draw), shape, draw(seeds)


def keras_transformation(name, k_layer, drawn, shape):
    """Keras' transformation dict for the parameters minicnn drew (Keras' keys and shapes)."""
    _, tf = keras_modules()
    n, h, w, _ = shape
    column = {k: tf.constant(np.asarray(v, np.float32).reshape(n, 1)) for k, v in drawn.items()
              if k in ("height_zoom", "width_zoom")}
    if name == "RandomRotation":
        angle = tf.constant(np.asarray(drawn["angle"], np.float32))
        zeros, ones = tf.zeros([n]), tf.ones([n])
        matrix = k_layer._compute_affine_matrix(  # what Keras' get_random_transformation does with its angle
            center_x=0.5, center_y=0.5, angle=angle, translate_x=zeros, translate_y=zeros, scale=ones,
            shear_x=zeros, shear_y=zeros, height=h, width=w)
        return {"angle": angle, "rotation_matrix": matrix, "image_height": h, "image_width": w, "batch_size": n}
    if name == "RandomZoom":
        return {**column, "input_shape": shape}
    if name == "RandomTranslation":
        return {"translations": tf.constant(np.asarray(drawn["translations"], np.float32)), "input_shape": shape}
    if name == "RandomContrast":
        return {"contrast_factor": tf.constant(np.asarray(drawn["contrast_factor"], np.float32).reshape(n, 1, 1, 1))}
    raise ValueError(name)


def keras_flip(keras, tf, images, drawn):
    """minicnn tosses a coin per axis; Keras' one-axis layers apply each axis' flags."""
    out = tf.constant(images)
    for mode, flags in drawn.items():
        flips = tf.constant(np.asarray(flags).reshape(-1, 1, 1, 1))
        out = keras.layers.RandomFlip(mode).transform_images(out, {"flips": flips}, training=True)
    return out


def _augmentation_check(name):
    def check(case, stats):
        keras, tf = keras_modules()
        kwargs, shape, seed = case
        x = np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")
        m_layer = getattr(mc.layers, name)(seed=seed, **kwargs)
        drawn = m_layer.get_random_transformation(x)
        ours = m_layer.transform_images(x, drawn)
        called = getattr(mc.layers, name)(seed=seed, **kwargs)(Tensor(x), training=True).numpy()
        stats.equal("training call = transform_images(get_random_transformation)", called.tolist(), ours.tolist())
        if name == "RandomFlip":
            theirs = keras_flip(keras, tf, x, drawn)
        else:
            k_layer = getattr(keras.layers, name)(**kwargs)
            theirs = k_layer.transform_images(tf.constant(x), keras_transformation(name, k_layer, drawn, shape),
                                              training=True)
        stats.compare("images transformed with minicnn's draws", ours, np.asarray(theirs), "float32")
    return check


ROWS = [Row("stochastic", "Dropout(training=True): keep rate (5σ), output and gradient given the mask",
            check_dropout, dropout_case(), examples=25)]
ROWS += [Row("stochastic", f"{name}(training=True): same drawn parameters", _augmentation_check(name),
             augmentation_case(name), examples=25) for name in AUGMENTATIONS]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_stochastic_layer_matches_keras(row):
    row.run()
