"""The backbone workloads: five Keras applications, as frozen-feature extractors and fine-tuned.

Each backbone is built with random weights (speed does not depend on their
values), no top, global average pooling, at the input size the issue's table
uses, in minicnn and in Keras from the same arguments. ``head_model`` puts a
10-class Dense head on it for fine-tuning; ``frozen_base=True`` freezes the
backbone inside the graph (its BatchNormalization layers then run in
inference mode, Keras 3's rule).
"""
from __future__ import annotations

import numpy as np

# name -> (application class name, input side, constructor arguments)
BACKBONES = {
    "mobilenet": ("MobileNet", 96, {"alpha": 0.25}),
    "mobilenet_v2": ("MobileNetV2", 96, {"alpha": 0.35}),
    "resnet50_v2": ("ResNet50V2", 64, {}),
    "vgg16": ("VGG16", 32, {}),
    "xception": ("Xception", 71, {}),
}
BATCH = 32
CLASSES = 10


def random_images(name: str, n: int, seed: int = 0):
    """``n`` images in [-1, 1) at the backbone's input size, and labels."""
    side = BACKBONES[name][1]
    rng = np.random.default_rng(seed)
    x = rng.random((n, side, side, 3), dtype=np.float32) * 2 - 1
    return x, rng.integers(0, CLASSES, size=n).astype(np.int64)


def backbone(name: str, framework: str):
    """The feature extractor in ``framework`` ('minicnn' or 'keras')."""
    cls, side, kwargs = BACKBONES[name]
    if framework == "minicnn":
        from minicnn import applications  # noqa: PLC0415 - import cost is part of a run

        app = getattr(applications, cls)
    else:
        import keras  # noqa: PLC0415

        app = getattr(keras.applications, cls)
    return app(input_shape=(side, side, 3), include_top=False, weights=None, pooling="avg", **kwargs)


def head_model(name: str, framework: str, frozen_base: bool):
    """Backbone + Dense(10) head, compiled with Adam and sparse cross-entropy."""
    if framework == "minicnn":
        import minicnn as lib  # noqa: PLC0415
    else:
        import keras as lib  # noqa: PLC0415
    base = backbone(name, framework)
    base.trainable = not frozen_base
    side = BACKBONES[name][1]
    inputs = lib.Input((side, side, 3))
    outputs = lib.layers.Dense(CLASSES)(base(inputs))
    model = lib.Model(inputs, outputs)
    model.compile(optimizer="adam", loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model
