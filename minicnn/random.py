"""One random-number generator for the whole library (weights, dropout, shuffling).

``set_seed(s)`` makes a run repeatable; ``get_state``/``set_state`` let a
checkpoint store and restore exactly where the stream was.
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
