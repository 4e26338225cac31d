"""Where a random layer's numbers come from: the library's generator, so
``set_random_seed`` repeats them, or, given ``seed=``, a generator of the
layer's own (``minicnn.random.RandomSource``), as in Keras. Dropout's rules
hold on the GPU path too (numbers computed on the card from a key the
generator gives, ``random.DeviceStream``), run here with NumPy standing in for CuPy."""
from __future__ import annotations

import numpy as np
import pytest
from _device import NumpyAsDevice

from minicnn import backend, layers, random, utils

IMAGES = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")


@pytest.fixture(params=["host", "gpu path"])
def where(request, monkeypatch):
    """Each Dropout test runs with NumPy arrays (host draws) and on the GPU path."""
    if request.param == "gpu path":
        device = NumpyAsDevice()
        monkeypatch.setattr(backend, "get_array_module", lambda *arrays: device)
    return request.param


def dropout_masks(layer, calls=2):
    return [layer(np.ones((4, 50), "float32"), training=True).numpy() for _ in range(calls)]


def test_dropout_with_a_seed_repeats_its_masks_whatever_the_global_seed(where):
    utils.set_random_seed(1)
    first = dropout_masks(layers.Dropout(0.5, seed=7))
    utils.set_random_seed(2)
    again = dropout_masks(layers.Dropout(0.5, seed=7))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[0], first[1])  # a fresh mask every call
    assert not np.array_equal(first[0], dropout_masks(layers.Dropout(0.5, seed=8), 1)[0])


def test_a_seeded_layer_leaves_the_global_generator_alone(where):
    before = random.get_state()
    dropout_masks(layers.Dropout(0.5, seed=7))
    layers.RandomFlip(seed=7)(IMAGES, training=True)
    assert random.get_state() == before


def test_dropout_without_a_seed_follows_the_global_seed(where):
    runs = []
    for seed in (3, 3, 4):
        utils.set_random_seed(seed)
        runs.append(dropout_masks(layers.Dropout(0.5)))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0][0], runs[2][0])


def test_augmentation_layers_follow_the_same_seed_rule():
    images = np.random.default_rng(1).random((32, 6, 6, 1)).astype("float32")
    utils.set_random_seed(1)
    first = layers.RandomFlip("horizontal", seed=5)(images, training=True).numpy()
    utils.set_random_seed(2)
    again = layers.RandomFlip("horizontal", seed=5)(images, training=True).numpy()
    np.testing.assert_array_equal(first, again)
