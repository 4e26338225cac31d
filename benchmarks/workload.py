"""The benchmark workload: the seed CIFAR-10 CNN, batch 128, float32, Adam.

Random images stand in for CIFAR-10: speed does not depend on pixel values,
and no framework gets to cache decoded data the others would have to decode.
"""
from __future__ import annotations

import numpy as np

BATCH = 128
IMAGE_SHAPE = (32, 32, 3)
CLASSES = 10


def random_data(n: int, seed: int = 0):
    """``n`` float32 images in [0, 1) and integer labels."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, *IMAGE_SHAPE), dtype=np.float32)
    y = rng.integers(0, CLASSES, size=n).astype(np.int64)
    return x, y


def minicnn_model():
    """The seed CNN compiled with Adam and sparse cross-entropy."""
    from minicnn.applications.seed_cnn import cifar10_cnn  # noqa: PLC0415 - import cost is part of a run

    model = cifar10_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model
