"""Data sets with Keras' loaders' shapes and dtypes (``mc.datasets.cifar10.load_data()``)."""
from . import cifar10
from .download import DatasetError

__all__ = ["DatasetError", "cifar10"]
