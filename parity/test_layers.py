"""Every minicnn layer against its Keras namesake, configurations drawn by hypothesis.

One entry of ``LAYER_CASES`` per layer: its class name (the same in both
libraries) and a strategy drawing ``(kwargs, input_shape, dtype)``. A layer added
to ``minicnn.layers`` joins the suite with one entry, e.g.

    "ZeroPadding2D": image_case(lambda draw: {"padding": draw(st.integers(0, 3))}),

and ``test_every_layer_has_a_case`` fails until it has one.
"""
from __future__ import annotations

import pytest
from hypothesis import strategies as st

import minicnn as mc

from .compare import compare_layer
from .harness import DTYPES, Row

ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu", "elu", "gelu", "tanh", "sigmoid", "softmax")
dtypes = st.sampled_from(DTYPES)
float32 = st.just("float32")
seeds = st.integers(0, 2**31 - 1)


def image_case(draw_kwargs, min_size=lambda kwargs: (1, 1), channels=st.integers(1, 16), dtype=dtypes):
    """A strategy for layers on NHWC images: kwargs first, then an input large enough for them."""
    @st.composite
    def case(draw):
        kwargs = draw_kwargs(draw)
        min_h, min_w = min_size(kwargs)
        shape = (draw(st.integers(1, 8)), draw(st.integers(min_h, min_h + 7)),
                 draw(st.integers(min_w, min_w + 7)), draw(channels))
        return kwargs, shape, draw(dtype), draw(seeds)
    return case()


def conv_kwargs(draw):
    kernel = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    if draw(st.booleans()):  # dilation and strides > 1 cannot be combined (in Keras either)
        strides, dilation = (1, 1), (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    else:
        strides, dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3))), (1, 1)
    return {"filters": draw(st.integers(1, 16)), "kernel_size": kernel, "strides": strides,
            "dilation_rate": dilation, "padding": draw(st.sampled_from(["same", "valid"])),
            "use_bias": draw(st.booleans()), "activation": draw(st.sampled_from([None, "relu", "tanh"]))}


def square_conv_kwargs(draw):
    kwargs = conv_kwargs(draw)
    return {**kwargs, "strides": (kwargs["strides"][0],) * 2, "dilation_rate": (kwargs["dilation_rate"][0],) * 2}


def conv_transpose_kwargs(draw):
    """Conv2D's draw without dilation (TensorFlow's CPU kernel for a transposed
    convolution has none; tests/test_conv_transpose.py checks dilation against
    the convolution it is the adjoint of), and half the time an output_padding
    below the stride, unless it would give a size no convolution maps back
    (an even kernel, 'same', output_padding 0: Keras refuses that too)."""
    kwargs = {**conv_kwargs(draw), "dilation_rate": (1, 1)}
    output_padding = tuple(draw(st.integers(0, s - 1)) for s in kwargs["strides"])
    unmappable = kwargs["padding"] == "same" and any(k % 2 + op == 0 for k, op in zip(kwargs["kernel_size"],
                                                                                       output_padding))
    if draw(st.booleans()) and not unmappable:
        kwargs["output_padding"] = output_padding
    return kwargs


def window_min_size(kwargs):
    """'valid' windows need an input at least as large as the (dilated) window."""
    size = kwargs.get("kernel_size", kwargs.get("pool_size"))
    dilation = kwargs.get("dilation_rate", (1, 1))
    if kwargs.get("padding") == "same":
        return (1, 1)
    return tuple((k - 1) * d + 1 for k, d in zip(size, dilation))


def pool_kwargs(draw):
    pool = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    strides = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    return {"pool_size": pool, "strides": strides, "padding": draw(st.sampled_from(["same", "valid"]))}


@st.composite
def dense_case(draw):
    shape = (draw(st.integers(1, 8)), *[draw(st.integers(1, 6)) for _ in range(draw(st.integers(0, 2)))],
             draw(st.integers(1, 16)))
    units = draw(st.integers(1, 16))
    # softmax over one unit is the constant 1: its gradient is 0, and each side returns rounding noise
    choices = [None, *ACTIVATIONS] if units > 1 else [None, *[a for a in ACTIVATIONS if a != "softmax"]]
    kwargs = {"units": units, "use_bias": draw(st.booleans()), "activation": draw(st.sampled_from(choices))}
    return kwargs, shape, draw(dtypes), draw(seeds)


@st.composite
def any_rank_case(draw, kwargs=None, min_last=1, dtype=dtypes):
    shape = (draw(st.integers(1, 8)), *[draw(st.integers(1, 6)) for _ in range(draw(st.integers(0, 2)))],
             draw(st.integers(min_last, 6)))
    return (kwargs or {}), shape, draw(dtype), draw(seeds)


@st.composite
def reshape_case(draw):
    kwargs, shape, dtype, seed = draw(any_rank_case())
    size = 1
    for s in shape[1:]:
        size *= s
    first = draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0]))
    target = (first, size // first)
    if draw(st.booleans()):
        target = (first, -1) if draw(st.booleans()) else (-1, size // first)
    return {"target_shape": target}, shape, dtype, seed


@st.composite
def merge_case(draw, concat=False):
    n_inputs = draw(st.integers(2, 3))
    base = [draw(st.integers(1, 8)), *[draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3)))]]
    kwargs, shapes = {}, []
    if concat:
        axis = draw(st.integers(1, len(base) - 1))
        kwargs = {"axis": draw(st.sampled_from([axis, axis - len(base)]))}
    for _ in range(n_inputs):
        shape = list(base)
        if concat:
            shape[kwargs["axis"]] = draw(st.integers(1, 5))
        shapes.append(tuple(shape))
    return kwargs, shapes, draw(dtypes), draw(seeds)


LAYER_CASES = {
    "Conv2D": image_case(conv_kwargs, window_min_size),
    "Conv2DTranspose": image_case(conv_transpose_kwargs),
    "MaxPooling2D": image_case(pool_kwargs, window_min_size),
    "AveragePooling2D": image_case(pool_kwargs, window_min_size),
    "GlobalAveragePooling2D": image_case(lambda draw: {"keepdims": draw(st.booleans())}),
    "GlobalMaxPooling2D": image_case(lambda draw: {"keepdims": draw(st.booleans())}),
    "Dense": dense_case(),
    "Flatten": any_rank_case(),
    "Dropout(training=False)": any_rank_case().flatmap(
        lambda c: st.floats(0.0, 0.9).map(lambda rate: ({"rate": rate}, *c[1:]))),
    "Reshape": reshape_case(),
    "Add": merge_case(),
    "Multiply": merge_case(),
    "Concatenate": merge_case(concat=True),
    "Subtract": merge_case().map(lambda c: (c[0], c[1][:2], *c[2:])),  # exactly two inputs
    "Average": merge_case(),
    "Maximum": merge_case(),  # normal draws: no ties, so each gradient has one owner
    "Minimum": merge_case(),
    "BatchNormalization": image_case(lambda draw: {  # inference: moving statistics (random, variances > 0)
        "momentum": draw(st.sampled_from([0.5, 0.99])), "epsilon": draw(st.sampled_from([1e-3, 2**-7])),
        "center": draw(st.booleans()), "scale": draw(st.booleans())}),
    # TensorFlow's depthwise kernel needs equal strides (and rates) along both axes
    "DepthwiseConv2D": image_case(lambda draw: {**{k: v for k, v in square_conv_kwargs(draw).items()
                                                   if k != "filters"},
                                                "depth_multiplier": draw(st.integers(1, 3))}, window_min_size,
                                  channels=st.integers(1, 8)),
    "SeparableConv2D": image_case(lambda draw: {**square_conv_kwargs(draw),
                                                "depth_multiplier": draw(st.integers(1, 3))},
                                  window_min_size, channels=st.integers(1, 8)),
    "ReLU": any_rank_case().flatmap(lambda c: st.fixed_dictionaries({
        "max_value": st.sampled_from([None, 0.5, 6.0]), "negative_slope": st.sampled_from([0.0, 0.25]),
        "threshold": st.sampled_from([0.0, 0.5])}).map(lambda kw: (kw, *c[1:]))),
    "Softmax": any_rank_case(min_last=2),
    "LeakyReLU": any_rank_case().flatmap(lambda c: st.sampled_from([0.3, 0.01, 0.5]).map(
        lambda slope: ({"negative_slope": slope}, *c[1:]))),
    # noise layers are the identity at inference, as Dropout (training mode: tests/test_more_layers.py)
    "SpatialDropout2D(training=False)": image_case(lambda draw: {"rate": draw(st.floats(0.0, 0.9))}),
    "GaussianNoise(training=False)": any_rank_case().flatmap(
        lambda c: st.floats(0.0, 1.0).map(lambda stddev: ({"stddev": stddev}, *c[1:]))),
    "ZeroPadding2D": image_case(lambda draw: {"padding": draw(st.one_of(
        st.integers(0, 3), st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                                     st.tuples(st.integers(0, 3), st.integers(0, 3)))))}),
    "Cropping2D": image_case(lambda draw: {"cropping": ((draw(st.integers(0, 2)), draw(st.integers(0, 2))),
                                                        (draw(st.integers(0, 2)), draw(st.integers(0, 2))))},
                             lambda kw: (sum(kw["cropping"][0]) + 1, sum(kw["cropping"][1]) + 1)),
    "UpSampling2D": image_case(lambda draw: {"size": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                                             "interpolation": "nearest"}),
    # bilinear goes through tf.image.resize, which computes in float32 (like Resizing below)
    "UpSampling2D(bilinear)": image_case(lambda draw: {"size": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                                                       "interpolation": "bilinear"}, dtype=float32),
    # Keras' preprocessing layers compute in float32 whatever the layer dtype (tf.image.resize,
    # Rescaling's scale/offset constants), so they are compared in float32 only.
    "Rescaling": any_rank_case(dtype=float32).flatmap(lambda c: st.tuples(st.floats(-2, 2), st.floats(-2, 2)).map(
        lambda so: ({"scale": so[0], "offset": so[1]}, *c[1:]))),
    # random augmentations are the identity at inference, as in Keras (training mode:
    # test_stochastic_layers.py)
    "RandomFlip(training=False)": image_case(lambda draw: {"mode": draw(st.sampled_from(["horizontal", "vertical"]))},
                             dtype=float32),
    "RandomRotation(training=False)": image_case(lambda draw: {"factor": draw(st.floats(0.0, 0.5))}, dtype=float32),
    "RandomZoom(training=False)": image_case(lambda draw: {"height_factor": draw(st.floats(0.0, 0.5))}, dtype=float32),
    "RandomTranslation(training=False)": image_case(lambda draw: {"height_factor": draw(st.floats(0.0, 0.5)),
                                                  "width_factor": draw(st.floats(0.0, 0.5))}, dtype=float32),
    "RandomContrast(training=False)": image_case(lambda draw: {"factor": draw(st.floats(0.0, 1.0))},
                                                 dtype=float32),
    "Resizing": image_case(lambda draw: {"height": draw(st.integers(1, 12)), "width": draw(st.integers(1, 12)),
                                         "interpolation": draw(st.sampled_from(["bilinear", "nearest"]))},
                           dtype=float32),
}
for _name in ACTIVATIONS:
    LAYER_CASES[f"Activation({_name})"] = any_rank_case({"activation": _name}, 2 if _name == "softmax" else 1)

# Exported names that are not layers to compare (the graph entry point and base classes).
NOT_COMPARED = {"Input", "InputLayer", "InputSpec", "KerasTensor", "Layer"}


def _layer_check(label):
    cls_name = label.split("(")[0]

    def check(case, stats):
        kwargs, shape, dtype, seed = case
        compare_layer(cls_name, kwargs, shape, dtype, seed, stats)
    return check


# rows for the layers this checkout of minicnn has (a case may arrive before its layer)
ROWS = [Row("layers", label, _layer_check(label), strategy, examples=8 if label.startswith("Activation") else 25)
        for label, strategy in LAYER_CASES.items() if hasattr(mc.layers, label.split("(")[0])]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_layer_matches_keras(row):
    row.run()


def test_every_layer_has_a_case():
    """A layer exported by minicnn.layers without a parity case fails here."""
    covered = {label.split("(")[0] for label in LAYER_CASES}
    classes = {getattr(mc.layers, n).__name__ for n in mc.layers.__all__ if n not in NOT_COMPARED}
    assert classes <= covered, f"layers without a parity case: {sorted(classes - covered)}"
