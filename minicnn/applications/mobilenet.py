"""MobileNet v1 (Howard et al., 2017), layer for layer as ``keras.applications.MobileNet``.

A 3x3 Conv2D, then 13 depthwise-separable blocks; each block is
DepthwiseConv2D 3x3 -> BN -> ReLU6 -> Conv2D 1x1 -> BN -> ReLU6. ``alpha``
(the width multiplier) scales every channel count: alpha 0.25 keeps a quarter
of the channels and about 1/16 of the multiply-adds. Strided blocks pad one
pixel at the bottom/right first (``conv_pad_<i>``) and use 'valid', as Keras.
Layer names match Keras', so the published weight files load by name.
"""
from __future__ import annotations

from ..layers import BatchNormalization, Conv2D, DepthwiseConv2D, Dropout, GlobalAveragePooling2D, ReLU
from ..layers import Activation, Reshape, ZeroPadding2D
from ..models import Model
from . import _common

BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _depthwise_block(x, filters, alpha, depth_multiplier, strides, block_id):
    if strides != 1:
        x = ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = DepthwiseConv2D(3, padding="same" if strides == 1 else "valid", depth_multiplier=depth_multiplier,
                        strides=strides, use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = BatchNormalization(name=f"conv_dw_{block_id}_bn")(x)
    x = ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = Conv2D(int(filters * alpha), 1, padding="same", use_bias=False, name=f"conv_pw_{block_id}")(x)
    x = BatchNormalization(name=f"conv_pw_{block_id}_bn")(x)
    return ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True,  # noqa: N802
              weights=None, input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax",
              name=None):
    """MobileNet v1; ``weights`` is None or the path of a Keras weight file."""
    _common.check_weights(weights, "MobileNet")
    inputs = _common.image_input(input_shape, input_tensor, 224, 32, "MobileNet", include_top)
    x = Conv2D(int(32 * alpha), 3, padding="same", use_bias=False, strides=2, name="conv1")(inputs)
    x = BatchNormalization(name="conv1_bn")(x)
    x = ReLU(6.0, name="conv1_relu")(x)
    for block_id, (filters, strides) in enumerate(BLOCKS, start=1):
        x = _depthwise_block(x, filters, alpha, depth_multiplier, strides, block_id)
    if include_top:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Dropout(dropout, name="dropout")(x)
        x = Conv2D(classes, 1, padding="same", name="conv_preds")(x)
        x = Reshape((classes,), name="reshape_2")(x)
        x = Activation(classifier_activation, name="predictions")(x)
    else:
        x = _common.pool(x, pooling, None)
    rows = inputs.shape[1] or 224
    model = Model(inputs, x, name=name or f"mobilenet_{alpha:0.2f}_{rows}")
    return _common.finish(model, weights)


def preprocess_input(x):
    """RGB in 0..255 -> [-1, 1] (Keras' 'tf' mode)."""
    return _common.preprocess_input(x, "tf")
