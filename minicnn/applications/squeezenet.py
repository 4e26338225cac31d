"""SqueezeNet v1.1 (Iandola et al., 2016), with the layer names of the widely used
Keras-2 port (``keras-squeezenet``), so its ImageNet weight file loads by name.

The *fire module* squeezes the channels with a 1x1 conv, then expands them again
with a 1x1 and a 3x3 conv side by side, concatenated. AlexNet-level accuracy with
722,496 parameters (no top). v1.1 uses a 3x3 first conv with 64 filters and pools
early, which makes it 2.4x cheaper than v1.0.
"""
from __future__ import annotations

from ..layers import Activation, Concatenate, Conv2D, Dropout, GlobalAveragePooling2D, MaxPooling2D
from ..models import Model
from . import _common

FIRES = ((2, 16, 64), (3, 16, 64), "pool3", (4, 32, 128), (5, 32, 128), "pool5",
         (6, 48, 192), (7, 48, 192), (8, 64, 256), (9, 64, 256))


def fire_module(x, fire_id, squeeze, expand):
    p = f"fire{fire_id}/"
    x = Conv2D(squeeze, 1, name=p + "squeeze1x1")(x)
    x = Activation("relu", name=p + "relu_squeeze1x1")(x)
    left = Activation("relu", name=p + "relu_expand1x1")(Conv2D(expand, 1, name=p + "expand1x1")(x))
    right = Activation("relu", name=p + "relu_expand3x3")(
        Conv2D(expand, 3, padding="same", name=p + "expand3x3")(x))
    return Concatenate(name=p + "concat")([left, right])


def SqueezeNet(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,  # noqa: N802
               classes=1000, name="squeezenet"):
    """SqueezeNet v1.1; ``weights`` is None or the path of a Keras weight file
    (e.g. data/weights/squeezenet_v1.1_notop.h5 with ``include_top=False``)."""
    _common.check_weights(weights, "SqueezeNet")
    inputs = _common.image_input(input_shape, input_tensor, 227, 32, "SqueezeNet", include_top)
    x = Conv2D(64, 3, strides=2, name="conv1")(inputs)
    x = Activation("relu", name="relu_conv1")(x)
    x = MaxPooling2D(3, strides=2, name="pool1")(x)
    for fire in FIRES:
        x = MaxPooling2D(3, strides=2, name=fire)(x) if isinstance(fire, str) else fire_module(x, *fire)
    if include_top:
        x = Dropout(0.5, name="drop9")(x)
        x = Conv2D(classes, 1, name="conv10")(x)
        x = Activation("relu", name="relu_conv10")(x)
        x = GlobalAveragePooling2D()(x)
        x = Activation("softmax", name="loss")(x)
    else:
        x = _common.pool(x, pooling, None)
    return _common.finish(Model(inputs, x, name=name), weights)


def preprocess_input(x):
    """RGB in 0..255 -> BGR minus the ImageNet channel means ('caffe' mode, as the weights expect)."""
    return _common.preprocess_input(x, "caffe")
