"""MobileNetV2 (Sandler et al., 2018), as ``keras.applications.MobileNetV2``.

The building block is the *inverted residual*: a 1x1 conv expands the channels
6x, a 3x3 depthwise conv filters them, a 1x1 "projection" shrinks them again
with no activation (a linear bottleneck), and when shapes allow the block's
input is added back. Thin tensors travel between blocks; the wide ones live
only inside. BatchNorms use momentum 0.999, as Keras builds them.
"""
from __future__ import annotations

from ..layers import Add, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, GlobalAveragePooling2D, ReLU
from ..layers import ZeroPadding2D
from ..models import Model
from . import _common

# (filters, stride, expansion) of blocks 0..16
BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
          (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6),
          (160, 1, 6), (320, 1, 6))


def make_divisible(v, divisor=8):
    """Round a channel count to a multiple of ``divisor``, never losing more than 10 %."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _bn(name):
    return BatchNormalization(epsilon=1e-3, momentum=0.999, name=name)


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    in_channels = inputs.shape[-1]
    pointwise_filters = make_divisible(int(filters * alpha))
    x = inputs
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    if block_id:
        x = Conv2D(expansion * in_channels, 1, padding="same", use_bias=False, name=f"{prefix}expand")(x)
        x = _bn(f"{prefix}expand_BN")(x)
        x = ReLU(6.0, name=f"{prefix}expand_relu")(x)
    if stride == 2:
        x = ZeroPadding2D(_common.correct_pad(x.shape, 3), name=f"{prefix}pad")(x)
    x = DepthwiseConv2D(3, strides=stride, use_bias=False, padding="same" if stride == 1 else "valid",
                        name=f"{prefix}depthwise")(x)
    x = _bn(f"{prefix}depthwise_BN")(x)
    x = ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = Conv2D(pointwise_filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = _bn(f"{prefix}project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return Add(name=f"{prefix}add")([inputs, x])
    return x


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights=None, input_tensor=None,  # noqa: N802
                pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """MobileNetV2; ``weights`` is None or the path of a Keras weight file."""
    _common.check_weights(weights, "MobileNetV2")
    inputs = _common.image_input(input_shape, input_tensor, 224, 32, "MobileNetV2", include_top)
    x = Conv2D(make_divisible(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="Conv1")(inputs)
    x = _bn("bn_Conv1")(x)
    x = ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    last = make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    x = Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = _bn("Conv_1_bn")(x)
    x = ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = GlobalAveragePooling2D()(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _common.pool(x, pooling, None)
    rows = inputs.shape[1] or 224
    return _common.finish(Model(inputs, x, name=name or f"mobilenetv2_{alpha:0.2f}_{rows}"), weights)


def preprocess_input(x):
    """RGB in 0..255 -> [-1, 1] (Keras' 'tf' mode)."""
    return _common.preprocess_input(x, "tf")
