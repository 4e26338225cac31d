"""Weights in Keras 3's ``.weights.h5`` layout, with h5py (no TensorFlow needed).

Keras 3 stores each layer's variables as ``layers/<class, snake case>/vars/<i>``
(``layers/conv2d_1/vars/0`` is the second Conv2D's kernel); a nested model adds
one more level (``layers/functional/layers/dense/vars/<i>``),
and the top-level model keeps an empty ``vars`` group. minicnn writes the same
structure, so ``keras_model.load_weights(path)`` reads minicnn's files and
``model.load_weights(path)`` reads Keras' (for models with the same layers).
"""
from __future__ import annotations

import os

import numpy as np

from ..layers.base import to_snake_case
from ..atomic_files import atomic_path


def _keras_class_name(layer) -> str:
    """The class name Keras would have: a functional minicnn ``Model`` is Keras' ``Functional``."""
    if type(layer).__name__ == "Model" and getattr(layer, "_graph", None) is not None:
        return "Functional"
    return type(layer).__name__


def _layer_entries(model, prefix="layers"):
    """(path, layer, weights) for every layer, following Keras' nesting.

    Keras addresses a layer not by its name (auto-generated names differ between
    two instances of one model) but by its class in snake case, numbered within
    its container: ``layers/conv2d``, ``layers/conv2d_1``, ``layers/max_pooling2d``.
    """
    entries, used = [], {}
    for layer in model.layers:
        base = to_snake_case(_keras_class_name(layer))
        used[base] = used.get(base, -1) + 1
        path = f"{prefix}/{base}" if used[base] == 0 else f"{prefix}/{base}_{used[base]}"
        if hasattr(layer, "layers") and hasattr(layer, "_graph"):
            entries.append((path, layer, layer._own_weights))
            entries += _layer_entries(layer, f"{path}/layers")
        else:
            entries.append((path, layer, layer.weights))
    return entries


def save_weights(model, filepath, overwrite=True) -> None:
    import h5py  # noqa: PLC0415

    filepath = os.fspath(filepath)
    if not filepath.endswith(".weights.h5"):
        raise ValueError(f"save_weights: the file name must end in '.weights.h5' (as in Keras), got {filepath!r}")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_weights: {filepath} exists and overwrite=False")
    if not model.built:
        raise ValueError(f"save_weights: model '{model.name}' is not built yet, it has no weights")
    with atomic_path(filepath) as tmp, h5py.File(tmp, "w") as f:
        f.create_group("vars").attrs["name"] = model.name
        for path, layer, weights in _layer_entries(model):
            group = f.require_group(path).create_group("vars")
            group.attrs["name"] = layer.name
            for i, w in enumerate(weights):
                group.create_dataset(str(i), data=w.numpy())


def load_weights(model, filepath) -> None:
    """Load every weight, or, if anything does not fit, raise and change nothing."""
    import h5py  # noqa: PLC0415

    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"load_weights: no such file: {filepath}")
    try:
        f = h5py.File(filepath, "r")
    except OSError as exc:
        raise ValueError(f"load_weights: {filepath} is not a readable HDF5 weights file ({exc})") from None
    with f:
        plan = []
        for path, layer, weights in _layer_entries(model):
            group = f.get(f"{path}/vars")
            stored = len(group) if group is not None else 0
            if group is None and weights:
                raise ValueError(f"load_weights: {filepath} has no weights for layer '{layer.name}' "
                                 f"(looked for '{path}/vars'). Nothing was changed.")
            if stored != len(weights):
                raise ValueError(f"load_weights: layer '{layer.name}' has {len(weights)} weights but the "
                                 f"file holds {stored}. Nothing was changed.")
            for i, w in enumerate(weights):
                value = np.asarray(group[str(i)])
                if value.shape != tuple(w.shape):
                    raise ValueError(
                        f"load_weights: weight '{layer.name}/{w.name}' has shape {tuple(w.shape)} but the "
                        f"file holds shape {value.shape}. Nothing was changed."
                    )
                plan.append((w, value))
    for w, value in plan:
        w.assign(value)
