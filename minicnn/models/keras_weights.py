"""The ``model.weights.h5`` inside a ``.keras`` file: every weight, and the optimizer's state.

The layers' weights follow Keras' layout (``keras_paths.py``: ``layers/conv2d/vars/0``
...). The optimizer is one more group, ``optimizer/vars``, holding its
``variables`` in Keras' order:

    0: the step counter (int64)    1: the learning rate (float32)
    2...: the per-weight state, in the blocks ``Optimizer.keras_slot_groups`` gives
          (Adam: m and v of the first trainable weight, m and v of the second, ...)

so ``fit`` continues after ``load_model`` exactly where it stopped, in minicnn or in Keras.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import backend
from .keras_paths import layer_paths


def write_weights(model, h5file) -> None:
    """Write ``model``'s weights and (when compiled) its optimizer into an open ``h5py.File``."""
    for path, layer, weights in layer_paths(model):
        group = h5file.require_group(f"{path}/vars" if path else "vars")
        group.attrs["name"] = layer.name
        for i, w in enumerate(weights):
            group.create_dataset(str(i), data=w.numpy())
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        group = h5file.require_group("optimizer/vars")
        group.attrs["name"] = optimizer.config_name
        for i, value in enumerate(_optimizer_variables(optimizer, model.trainable_weights)):
            group.create_dataset(str(i), data=value)


def _optimizer_variables(optimizer, trainable) -> list[np.ndarray]:
    lr = [] if callable(optimizer._learning_rate) else [np.float32(optimizer.learning_rate)]
    values = [np.int64(optimizer.iterations), *lr]
    slots = optimizer.slots_for(trainable)
    for group in optimizer.keras_slot_groups():
        for w, state in zip(trainable, slots):
            values += [backend.to_numpy(state[name]) if name in state else np.zeros(w.shape, w.dtype)
                       for name in group]
    return values


def _checked(value, shape, where) -> np.ndarray:
    value = np.asarray(value)
    if value.dtype.kind not in "biuf":
        raise ValueError(f"{where} holds {value.dtype} data, not real numbers. Nothing was loaded.")
    if value.shape != shape:
        raise ValueError(f"{where} has shape {value.shape}, expected {shape}. Nothing was loaded.")
    return value


def read_optimizer_state(model, h5file, source: str):
    """A function that restores the optimizer's state from the file, or None when the
    file holds none. A state of another size is skipped with a warning, as Keras does."""
    group = h5file.get("optimizer/vars")
    optimizer, trainable = model.optimizer, model.trainable_weights
    if group is None or not len(group) or optimizer is None:
        return None
    expected = _optimizer_variables(optimizer, trainable)
    has_lr = not callable(optimizer._learning_rate)
    if len(group) == 1 + has_lr:  # an optimizer that never took a step: Keras writes no slots
        expected = expected[:1 + has_lr]
    elif len(group) != len(expected):
        warnings.warn(f"{source}: the optimizer state was not loaded: optimizer '{optimizer.config_name}' has "
                      f"{len(expected)} variables, the file holds {len(group)} (another optimizer or "
                      "other settings). Training starts with a fresh optimizer.", stacklevel=3)
        return None
    stored = [_checked(group[str(i)][()], np.shape(e), f"{source}: 'optimizer/vars/{i}'")
              for i, e in enumerate(expected)]

    def restore():
        slots = [{} for _ in trainable]
        values = iter(stored[1 + has_lr:])
        for group_names in optimizer.keras_slot_groups() if len(stored) > 1 + has_lr else []:
            for w, state in zip(trainable, slots):
                for name in group_names:
                    state[name] = backend.to_device(next(values), dtype=w.dtype)
        optimizer.set_slots_for(trainable, slots, int(stored[0]))
        if has_lr and np.float32(optimizer.learning_rate) != stored[1]:  # the file keeps float32: a rate
            optimizer.learning_rate = float(stored[1])   # the config already holds in full stays as it is

    return restore
