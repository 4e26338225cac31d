"""One random-number generator for the whole library (weights, dropout, shuffling).

``set_seed(s)`` makes a run repeatable; ``get_state``/``set_state`` let a
checkpoint store and restore exactly where the stream was. A layer made with
its own ``seed=`` draws from a generator of its own instead (``RandomSource``).
"""
from __future__ import annotations

import random as _pyrandom

import numpy as np

_rng = [np.random.default_rng()]


def generator() -> np.random.Generator:
    """The library's NumPy random generator."""
    return _rng[0]


def set_seed(seed: int) -> None:
    """Seed minicnn's generator, NumPy's global one and Python's ``random``."""
    _rng[0] = np.random.default_rng(seed)
    np.random.seed(seed % 2**32)
    _pyrandom.seed(seed)


def get_state() -> dict:
    return _rng[0].bit_generator.state


def set_state(state: dict) -> None:
    _rng[0].bit_generator.state = state


class RandomSource:
    """Where one layer's random numbers come from, given Keras' ``seed=`` argument.

    With a seed, the layer draws from a generator of its own, seeded by it: two
    layers made with the same seed draw the same numbers, call after call,
    whatever the global seed is (Keras' ``SeedGenerator``). Without one, it
    draws from the library's generator, looked up at every draw, so
    ``set_seed`` (which replaces that generator) and a checkpoint's
    ``set_state`` cover the layer.
    """

    def __init__(self, seed: int | None = None):
        self._own = np.random.default_rng(seed) if seed is not None else None

    def generator(self) -> np.random.Generator:
        return self._own if self._own is not None else generator()
