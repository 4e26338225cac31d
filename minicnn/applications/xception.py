"""Xception (Chollet, 2017), as ``keras.applications.Xception``.

"Extreme Inception": every convolution after the stem is a SeparableConv2D,
arranged in residual blocks. Entry flow: a two-conv stem, then three
downsampling blocks whose shortcut is a strided 1x1 conv + BN. Middle flow:
eight identical blocks of three ReLU-SeparableConv-BN at 728 channels, with an
identity shortcut. Exit flow: one more downsampling block, then two separable
convs to 1536 and 2048 channels. 20,861,480 parameters without the top.
"""
from __future__ import annotations

from ..layers import Activation, Add, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, MaxPooling2D
from ..layers import SeparableConv2D
from ..models import Model
from . import _common


def _sep_bn(x, filters, name):
    x = SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    return BatchNormalization(name=f"{name}_bn")(x)


def _down_block(x, filters, block, first_relu=True):
    """Two separable convs + a stride-2 max pool, plus a strided 1x1 shortcut."""
    residual = Conv2D(filters[1], 1, strides=2, padding="same", use_bias=False)(x)
    residual = BatchNormalization()(residual)
    if first_relu:
        x = Activation("relu", name=f"block{block}_sepconv1_act")(x)
    x = _sep_bn(x, filters[0], f"block{block}_sepconv1")
    x = Activation("relu", name=f"block{block}_sepconv2_act")(x)
    x = _sep_bn(x, filters[1], f"block{block}_sepconv2")
    x = MaxPooling2D(3, strides=2, padding="same", name=f"block{block}_pool")(x)
    return Add()([x, residual])


def Xception(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,  # noqa: N802
             classes=1000, classifier_activation="softmax", name="xception"):
    """Xception; ``weights`` is None or the path of a Keras weight file."""
    _common.check_weights(weights, "Xception")
    inputs = _common.image_input(input_shape, input_tensor, 299, 71, "Xception", include_top)
    x = Conv2D(32, 3, strides=2, use_bias=False, name="block1_conv1")(inputs)
    x = BatchNormalization(name="block1_conv1_bn")(x)
    x = Activation("relu", name="block1_conv1_act")(x)
    x = Conv2D(64, 3, use_bias=False, name="block1_conv2")(x)
    x = BatchNormalization(name="block1_conv2_bn")(x)
    x = Activation("relu", name="block1_conv2_act")(x)
    x = _down_block(x, (128, 128), 2, first_relu=False)
    x = _down_block(x, (256, 256), 3)
    x = _down_block(x, (728, 728), 4)
    for block in range(5, 13):
        residual = x
        for i in (1, 2, 3):
            x = Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
            x = _sep_bn(x, 728, f"block{block}_sepconv{i}")
        x = Add()([x, residual])
    x = _down_block(x, (728, 1024), 13)
    x = _sep_bn(x, 1536, "block14_sepconv1")
    x = Activation("relu", name="block14_sepconv1_act")(x)
    x = _sep_bn(x, 2048, "block14_sepconv2")
    x = Activation("relu", name="block14_sepconv2_act")(x)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _common.pool(x, pooling, None)
    return _common.finish(Model(inputs, x, name=name), weights)


def preprocess_input(x):
    """RGB in 0..255 -> [-1, 1] (Keras' 'tf' mode)."""
    return _common.preprocess_input(x, "tf")
