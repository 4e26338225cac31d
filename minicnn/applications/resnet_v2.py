"""ResNet50V2 (He et al., 2016, "Identity Mappings in Deep Residual Networks"),
as ``keras.applications.ResNet50V2``.

"V2" puts BatchNorm + ReLU *before* each convolution (pre-activation), so the
skip path is a clean identity. Each bottleneck block: BN-ReLU, then 1x1 (bias-free)
-> BN-ReLU -> 3x3 (bias-free) -> BN-ReLU -> 1x1 to 4x the filters, added to the
shortcut (a 1x1 conv in a stack's first block, otherwise the input itself,
max-pooled 1x1 with stride 2 where the block downsamples). Stacks of 3, 4, 6, 3
blocks; the downsampling happens in the *last* block of stacks 2-4.
"""
from __future__ import annotations

from ..layers import Activation, Add, BatchNormalization, Conv2D, Dense, MaxPooling2D, ZeroPadding2D
from ..layers import GlobalAveragePooling2D
from ..models import Model
from . import _common

EPS = 1.001e-5


def _block(x, filters, stride=1, conv_shortcut=False, name=None):
    preact = BatchNormalization(epsilon=EPS, name=f"{name}_preact_bn")(x)
    preact = Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = Conv2D(filters, 1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = BatchNormalization(epsilon=EPS, name=f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = ZeroPadding2D(((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = BatchNormalization(epsilon=EPS, name=f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return Add(name=f"{name}_out")([shortcut, x])


def _stack(x, filters, blocks, stride1=2, name=None):
    x = _block(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = _block(x, filters, name=f"{name}_block{i}")
    return _block(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def ResNet50V2(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,  # noqa: N802
               classes=1000, classifier_activation="softmax", name="resnet50v2"):
    """ResNet50V2; ``weights`` is None or the path of a Keras weight file."""
    _common.check_weights(weights, "ResNet50V2")
    inputs = _common.image_input(input_shape, input_tensor, 224, 32, "ResNet50V2", include_top)
    x = ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = _stack(x, 64, 3, name="conv2")
    x = _stack(x, 128, 4, name="conv3")
    x = _stack(x, 256, 6, name="conv4")
    x = _stack(x, 512, 3, stride1=1, name="conv5")
    x = BatchNormalization(epsilon=EPS, name="post_bn")(x)
    x = Activation("relu", name="post_relu")(x)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _common.pool(x, pooling, "named")
    return _common.finish(Model(inputs, x, name=name), weights)


def preprocess_input(x):
    """RGB in 0..255 -> [-1, 1] (Keras' 'tf' mode)."""
    return _common.preprocess_input(x, "tf")
