"""What a layer declares about itself, and how the layer modules fit together.

* ``Layer.kind`` chooses ``explain()``'s rule: no matching of class names.
* ``Layer.draws_host_random_numbers`` is True exactly for the layers that draw
  from a host generator in training on the GPU path (a CUDA graph cannot
  replay them, ``models/gpu/graph.py``): checked by running every layer class
  on NumPy standing in for CuPy and watching the library's generator.
* The argument checks the layer modules share live in one module,
  ``layers/arguments.py``, which, like ``symbolic.py``, imports no layer module.
* ``x + y`` on symbolic tensors records an Add layer, as in Keras.
"""
from __future__ import annotations

import ast
import inspect
import pathlib

import numpy as np
import pytest
from _device import NumpyAsDevice

import minicnn as mc
from minicnn import layers, random
from minicnn.models.explain import explain_model

LAYERS_DIR = pathlib.Path(layers.__file__).parent
IMAGES = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
LAYER_CLASSES = sorted({c for c in vars(layers).values() if inspect.isclass(c) and issubclass(c, layers.Layer)
                        and c is not layers.Layer}, key=lambda c: c.__name__)

KINDS = {
    layers.Conv2D: "conv", layers.DepthwiseConv2D: "depthwise_conv", layers.SeparableConv2D: "separable_conv",
    layers.Conv2DTranspose: "conv_transpose",
    layers.MaxPooling2D: "max_pool", layers.AveragePooling2D: "average_pool",
    layers.GlobalAveragePooling2D: "global_pool", layers.GlobalMaxPooling2D: "global_pool",
    layers.Dense: "dense", layers.Flatten: "flatten", layers.ZeroPadding2D: "zero_padding",
    layers.InputLayer: "input", layers.BatchNormalization: "batch_norm", layers.Add: "add",
}

# one instance of every public layer class, made without a seed
SAMPLES = {
    layers.Activation: lambda: layers.Activation("relu"),
    layers.Add: layers.Add,
    layers.Average: layers.Average,
    layers.AveragePooling2D: layers.AveragePooling2D,
    layers.BatchNormalization: layers.BatchNormalization,
    layers.Concatenate: layers.Concatenate,
    layers.Conv2D: lambda: layers.Conv2D(2, 3),
    layers.Conv2DTranspose: lambda: layers.Conv2DTranspose(2, 3, strides=2),
    layers.Cropping2D: lambda: layers.Cropping2D(1),
    layers.Dense: lambda: layers.Dense(2),
    layers.DepthwiseConv2D: lambda: layers.DepthwiseConv2D(3),
    layers.Dropout: lambda: layers.Dropout(0.5),
    layers.Flatten: layers.Flatten,
    layers.GaussianNoise: lambda: layers.GaussianNoise(0.1),
    layers.GlobalAveragePooling2D: layers.GlobalAveragePooling2D,
    layers.GlobalMaxPooling2D: layers.GlobalMaxPooling2D,
    layers.InputLayer: lambda: layers.InputLayer((8, 8, 3)),
    layers.LeakyReLU: layers.LeakyReLU,
    layers.MaxPooling2D: layers.MaxPooling2D,
    layers.Maximum: layers.Maximum,
    layers.Minimum: layers.Minimum,
    layers.Multiply: layers.Multiply,
    layers.RandomFlip: layers.RandomFlip,
    layers.RandomRotation: lambda: layers.RandomRotation(0.2),
    layers.RandomTranslation: lambda: layers.RandomTranslation(0.2, 0.2),
    layers.RandomZoom: lambda: layers.RandomZoom(0.2),
    layers.RandomContrast: lambda: layers.RandomContrast(0.2),
    layers.ReLU: layers.ReLU,
    layers.Rescaling: lambda: layers.Rescaling(0.5),
    layers.Reshape: lambda: layers.Reshape((-1,)),
    layers.Resizing: lambda: layers.Resizing(4, 4),
    layers.SeparableConv2D: lambda: layers.SeparableConv2D(2, 3),
    layers.Softmax: layers.Softmax,
    layers.SpatialDropout2D: lambda: layers.SpatialDropout2D(0.5),
    layers.Subtract: layers.Subtract,
    layers.UpSampling2D: layers.UpSampling2D,
    layers.ZeroPadding2D: layers.ZeroPadding2D,
}


@pytest.mark.parametrize("cls", LAYER_CLASSES, ids=lambda c: c.__name__)
def test_every_layer_class_declares_its_kind(cls):
    assert cls.kind == KINDS.get(cls)


@pytest.mark.parametrize("cls", LAYER_CLASSES, ids=lambda c: c.__name__)
def test_draws_host_random_numbers_is_true_exactly_for_the_layers_that_do(cls, monkeypatch):
    assert cls in SAMPLES, f"add a sample of {cls.__name__} to SAMPLES"
    layer = SAMPLES[cls]()
    merges = (layers.Add, layers.Average, layers.Concatenate, layers.Maximum, layers.Minimum, layers.Multiply,
              layers.Subtract)
    x = [IMAGES, IMAGES] if cls in merges else IMAGES
    layer(x, training=False)  # builds the layer: weight initialisers draw too
    device = NumpyAsDevice()
    monkeypatch.setattr(mc.backend, "get_array_module", lambda *arrays: device)
    layer(x, training=True)  # a device random stream takes its key from the host generator at its first draw
    before = random.get_state()
    layer(x, training=True)
    assert (random.get_state() != before) == cls.draws_host_random_numbers


def test_explain_follows_the_declared_kind_not_attribute_names():
    class Scale(layers.Layer):
        """Has ``units`` and ``kernel_size`` attributes, but is no Dense and no conv."""

        units, kernel_size, dilation_rate = 3, (3, 3), (1, 1)

        def call(self, inputs):
            return inputs * 2.0

        def compute_output_shape(self, input_shape):
            return input_shape

    inp = mc.Input((4, 4, 3))
    e = explain_model(mc.Model(inp, layers.Dense(2)(Scale()(inp))))
    scale, dense = e.layers
    assert scale.macs == 0 and scale.size_lines == []
    assert dense.macs == 4 * 4 * 3 * 2 and dense.size_lines


# -- how the layer modules import each other ------------------------------------------------
def layer_imports(path: pathlib.Path) -> set[str]:
    """The sibling modules ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("minicnn.layers."):
            found.add(node.module.split(".")[2])
    return found


def test_the_modules_everything_builds_on_import_no_layer_module():
    """The two import circles minicnn/layers had (convolutional <-> pooling, and
    base -> symbolic -> merging -> base) stay broken at their roots; that no
    package has any circle is tests/test_architecture.py's contract."""
    assert layer_imports(LAYERS_DIR / "symbolic.py") == set()
    assert layer_imports(LAYERS_DIR / "arguments.py") == set()
    assert "pooling" not in layer_imports(LAYERS_DIR / "convolutional.py")


def test_argument_checks_live_in_one_module():
    for path in LAYERS_DIR.glob("*.py"):
        if path.stem != "arguments":
            source = path.read_text()
            assert "def normalize_" not in source and 'not in (None, "channels_last")' not in source, path.name


@pytest.mark.parametrize("make", [
    lambda f: layers.Conv2D(2, 3, data_format=f), lambda f: layers.DepthwiseConv2D(3, data_format=f),
    lambda f: layers.MaxPooling2D(data_format=f), lambda f: layers.GlobalAveragePooling2D(data_format=f),
    lambda f: layers.ZeroPadding2D(data_format=f), lambda f: layers.Cropping2D(data_format=f),
    lambda f: layers.UpSampling2D(data_format=f),
])
def test_every_image_layer_refuses_channels_first(make):
    with pytest.raises(ValueError, match=r"only data_format='channels_last' \(NHWC\) is supported, "
                                         r"got 'channels_first'"):
        make("channels_first")
    make("channels_last")


@pytest.mark.parametrize("make, message", [
    (lambda: layers.Conv2D(2, 2.5, name="c"), "Conv2D 'c': kernel_size must be a positive int or a tuple of 2 "
                                              "positive ints, got 2.5"),
    (lambda: layers.Dense(0, name="d"), "Dense 'd': units must be a positive integer, got 0"),
    (lambda: layers.UpSampling2D((2, 0), name="u"), "UpSampling2D 'u': size must be a positive int or a tuple "
                                                    "of 2 positive ints, got (2, 0)"),
    (lambda: layers.UpSampling2D(interpolation="bicubic", name="u"),
     "UpSampling2D 'u': interpolation must be 'bilinear' or 'nearest', got 'bicubic'"),
    (lambda: layers.RandomFlip("diagonal", name="f"),
     "RandomFlip 'f': mode must be 'horizontal', 'vertical' or 'horizontal_and_vertical', got 'diagonal'"),
    (lambda: layers.MaxPooling2D(padding="full", name="p"),
     "MaxPooling2D 'p': padding must be 'valid' or 'same', got 'full'"),
])
def test_argument_errors_name_the_layer_the_argument_and_the_value(make, message):
    with pytest.raises(ValueError) as err:
        make()
    assert str(err.value) == message


# -- x + y ------------------------------------------------------------------------------------
def test_plus_on_symbolic_tensors_records_an_add_layer():
    a, b = mc.Input((3,)), mc.Input((3,))
    model = mc.Model([a, b], a + b)
    assert type(model.layers[-1]) is layers.Add
    x, y = np.arange(6, dtype="float32").reshape(2, 3), np.ones((2, 3), "float32")
    np.testing.assert_array_equal(model([x, y]).numpy(), x + y)
    with pytest.raises(TypeError, match="unsupported operand"):
        a + 1  # noqa: B018 - only two symbolic tensors add up
