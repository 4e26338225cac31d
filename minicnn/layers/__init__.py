"""Layers with Keras' names: ``mc.layers.Conv2D(32, 3, padding='same')``."""
from .activation import LeakyReLU, ReLU, Softmax
from .base import InputSpec, Layer
from .convolutional import Conv2D, Conv2DTranspose
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from .depthwise import DepthwiseConv2D, SeparableConv2D
from .merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization
from .pooling import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    MaxPool2D,
    MaxPooling2D,
)
from .preprocessing import (
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
)
from .regularization import GaussianNoise, SpatialDropout2D
from .reshaping import Cropping2D, UpSampling2D, ZeroPadding2D
from .symbolic import KerasTensor

Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose

__all__ = [
    "Activation", "Add", "AveragePooling2D", "AvgPool2D", "Concatenate", "Conv2D", "Convolution2D",
    "Conv2DTranspose", "Convolution2DTranspose",
    "Dense", "Dropout", "Flatten", "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
    "GlobalMaxPooling2D", "Input", "InputLayer", "InputSpec", "KerasTensor", "Layer", "MaxPool2D",
    "MaxPooling2D", "Multiply", "RandomContrast", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
    "Rescaling", "Reshape", "Resizing",
    # transfer-learning layers
    "BatchNormalization", "Cropping2D", "DepthwiseConv2D", "ReLU", "SeparableConv2D", "Softmax",
    "UpSampling2D", "ZeroPadding2D",
    # more Keras layers a CNN uses
    "Average", "GaussianNoise", "LeakyReLU", "Maximum", "Minimum", "SpatialDropout2D", "Subtract",
]
