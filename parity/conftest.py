"""Skip nothing silently: without TensorFlow the parity tests fail with the install command."""
import pytest

from minicnn import utils

from .harness import keras_modules


@pytest.fixture(autouse=True)
def _keras_and_seed():
    keras_modules()  # raises TensorFlowMissing with the install command
    utils.set_random_seed(1234)
