"""VGG16 (Simonyan & Zisserman, 2014), as ``keras.applications.VGG16``.

Five blocks of 3x3 'same' convolutions with ReLU (2, 2, 3, 3, 3 of them; 64,
128, 256, 512, 512 filters), each closed by a 2x2 max pool; then Flatten and
two Dense 4096 layers. 14,714,688 parameters without the top, 138,357,544 with it.
"""
from __future__ import annotations

from ..layers import Conv2D, Dense, Flatten, MaxPooling2D
from ..models import Model
from . import _common

BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def VGG16(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,  # noqa: N802
          classes=1000, classifier_activation="softmax", name="vgg16"):
    """VGG16; ``weights`` is None or the path of a Keras weight file."""
    _common.check_weights(weights, "VGG16")
    inputs = _common.image_input(input_shape, input_tensor, 224, 32, "VGG16", include_top)
    x = inputs
    for block, (filters, convs) in enumerate(BLOCKS, start=1):
        for i in range(1, convs + 1):
            x = Conv2D(filters, 3, activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
        x = MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    if include_top:
        x = Flatten(name="flatten")(x)
        x = Dense(4096, activation="relu", name="fc1")(x)
        x = Dense(4096, activation="relu", name="fc2")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _common.pool(x, pooling, None)
    return _common.finish(Model(inputs, x, name=name), weights)


def preprocess_input(x):
    """RGB in 0..255 -> BGR minus the ImageNet channel means (Keras' 'caffe' mode)."""
    return _common.preprocess_input(x, "caffe")
