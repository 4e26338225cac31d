"""The two small CNNs of the seed documents, built exactly as they build them.

``cifar10_cnn`` is the reference workload (582,026 parameters):
Conv2D(32,3,same,relu) · MaxPool(2) · Conv2D(64,3,same,relu) · MaxPool(2) ·
Conv2D(64,3,same,relu) · Flatten · Dense(128,relu) · Dense(10,softmax).

``tf_tutorial_cnn`` is TensorFlow's CNN tutorial variant: 'valid' padding,
Dense(64) and logits out (122,570 parameters).
"""
from __future__ import annotations

from .. import layers
from ..models import Sequential


def cifar10_cnn(input_shape=(32, 32, 3), classes=10, name=None) -> Sequential:
    return Sequential([
        layers.Input(input_shape),
        layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), padding="same", activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(classes, activation="softmax"),
    ], name=name)


def tf_tutorial_cnn(input_shape=(32, 32, 3), classes=10, name=None) -> Sequential:
    return Sequential([
        layers.Input(input_shape),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(classes),
    ], name=name)
