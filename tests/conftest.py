"""Shared pytest fixtures: a fixed seed for every test, float64 on request."""
import pytest

from minicnn import backend, utils


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state (weights, dropout, shuffling)."""
    utils.set_random_seed(1234)


@pytest.fixture
def float64():
    """Switch minicnn to float64 for the test (gradient checks), then switch back."""
    old = backend.floatx()
    backend.set_floatx("float64")
    try:
        yield
    finally:
        backend.set_floatx(old)
