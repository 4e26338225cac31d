"""minicnn: a small, readable CNN engine with a Keras-shaped API.

    import minicnn as mc
    model = mc.Sequential([mc.Input((32, 32, 3)), mc.layers.Conv2D(32, 3, activation="relu"), ...])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=20, batch_size=128, validation_split=0.2)

Read it bottom-up: ``backend`` (NumPy/CuPy) -> ``autograd`` (Tensor, Function,
backward) -> ``ops`` (im2col, conv, pooling, kernels) -> ``layers`` -> ``models``
(Sequential, functional, training loop).
"""
from . import (
    activations,
    applications,
    autograd,
    backend,
    callbacks,
    constraints,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    regularizers,
    utils,
)
from .autograd import Tensor, no_grad
from .layers import Input
from .models import Model, Sequential

__version__ = "0.1.0"

__all__ = [
    "Input", "Model", "Sequential", "Tensor", "activations", "applications", "autograd", "backend", "callbacks",
    "constraints", "datasets", "initializers", "layers", "losses", "metrics", "models", "no_grad", "ops",
    "optimizers", "regularizers", "utils",
]
