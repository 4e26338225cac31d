"""The reference models written in Keras, independently of minicnn (what parity compares against).

The seed CNNs exactly as the seed documents build them in Keras, and a small
functional model with a branch and a merge (so graph models are covered too).
"""
from __future__ import annotations

from .harness import keras_modules


def keras_cifar10_cnn(input_shape=(32, 32, 3), classes=10):
    keras, _ = keras_modules()
    L = keras.layers
    return keras.Sequential([
        keras.Input(input_shape),
        L.Conv2D(32, (3, 3), padding="same", activation="relu"), L.MaxPooling2D((2, 2)),
        L.Conv2D(64, (3, 3), padding="same", activation="relu"), L.MaxPooling2D((2, 2)),
        L.Conv2D(64, (3, 3), padding="same", activation="relu"),
        L.Flatten(), L.Dense(128, activation="relu"), L.Dense(classes, activation="softmax"),
    ])


def keras_tf_tutorial_cnn(input_shape=(32, 32, 3), classes=10):
    keras, _ = keras_modules()
    L = keras.layers
    return keras.Sequential([
        keras.Input(input_shape),
        L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
        L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
        L.Conv2D(64, (3, 3), activation="relu"),
        L.Flatten(), L.Dense(64, activation="relu"), L.Dense(classes),
    ])


def branchy(lib, input_shape=(12, 10, 3), classes=4):
    """Two conv branches added and concatenated, then pooled: ``lib`` is keras or minicnn."""
    L = lib.layers
    x = lib.Input(input_shape)
    a = L.Conv2D(6, 3, padding="same", activation="relu")(x)
    b = L.Conv2D(6, 1, padding="same")(x)
    s = L.Add()([a, b])
    c = L.Concatenate()([s, L.AveragePooling2D(3, strides=1, padding="same")(s)])
    y = L.Dense(classes, activation="softmax")(L.GlobalAveragePooling2D()(L.Dropout(0.3)(c)))
    return lib.Model(x, y)
