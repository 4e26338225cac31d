"""Weights in Keras 3's ``.weights.h5`` layout, with h5py (no TensorFlow needed).

Keras 3 stores each layer's variables as ``layers/<class, snake case>/vars/<i>``
(``layers/conv2d_1/vars/0`` is the second Conv2D's kernel; the whole layout,
subclassed models included, is in ``keras_paths.py``), and a compiled model's
optimizer state under ``optimizer/vars`` (``keras_weights.py``; ``load_weights``
reads the weights only, ``load_model`` both). minicnn writes the same
structure, so ``keras_model.load_weights(path)`` reads minicnn's files and
``model.load_weights(path)`` reads Keras' (for models with the same layers).
"""
from __future__ import annotations

import os

from ..atomic_files import atomic_path
from .keras_paths import layer_paths
from .keras_weights import read_optimizer_state, write_weights
from .weight_values import WeightsFileError, check_layout, checked_value


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
        write_weights(model, f)


def load_weights(model, filepath, allow_nonfinite=False) -> None:
    """Load every weight, or, if anything does not fit, raise and change nothing.

    Every stored array is read and checked (shape, a real numeric type, finite
    values unless ``allow_nonfinite``; see ``weight_values.py``) before the first
    one is assigned. The optimizer's state, if the file holds one (Keras'
    ``optimizer/vars``, ``keras_weights.py``) and the model is compiled, is
    restored with them, as Keras does. A file that is not HDF5, lacks a layer or a weight, or holds
    a bad array raises :class:`WeightsFileError` naming the file and the weight.
    """
    filepath = os.fspath(filepath)
    with open_weights_file(filepath) as f:
        plan = read_weights(model, f, filepath, allow_nonfinite)
        restore_optimizer = read_optimizer_state(model, f, f"load_weights: {filepath}")
    for w, value in plan:
        w.assign(value)
    if restore_optimizer is not None:
        restore_optimizer()


def open_weights_file(filepath):
    """The HDF5 file at ``filepath``, open for reading; FileNotFoundError if there is
    none, ``WeightsFileError`` naming it if it is not HDF5 (truncated, another format)."""
    import h5py  # noqa: PLC0415

    if not os.path.exists(filepath):
        raise FileNotFoundError(f"load_weights: no such file: {filepath}")
    try:
        return h5py.File(filepath, "r")
    except OSError as exc:
        raise WeightsFileError(f"load_weights: {filepath} is not a readable HDF5 weights file ({exc}). "
                               "Nothing was changed.") from None


def read_weights(model, f, filepath, allow_nonfinite=False) -> list:
    """``[(weight, value)]`` for every weight of ``model`` from the open HDF5 file ``f``
    (Keras' layout, ``keras_paths.py``), all checked before any is assigned."""
    plan = []
    for path, layer, weights in layer_paths(model):
        path = path or "/"  # the model itself: the root's ``vars``
        _check_layer(f, filepath, path, layer, weights)
        where = f"load_weights: {filepath}, layer '{layer.name}'"
        plan += [(w, _read_checked(f, f"{path}/vars/{i}", w, where, allow_nonfinite))
                 for i, w in enumerate(weights)]
    return plan


def _check_layer(f, filepath, path, layer, weights) -> None:
    """Raise unless the file holds as many weights for ``layer`` (at ``path``) as it has."""
    try:
        group = f.get(f"{path}/vars")
        stored = len(group) if group is not None else 0
    except (OSError, RuntimeError, KeyError, TypeError) as exc:
        raise WeightsFileError(f"load_weights: {filepath} is damaged where layer '{layer.name}' is stored "
                               f"({exc}). Nothing was changed.") from None
    if group is None and weights:
        raise WeightsFileError(f"load_weights: {filepath} has no weights for layer '{layer.name}' "
                               f"(looked for '{path}/vars'). Nothing was changed.")
    if stored != len(weights):
        raise WeightsFileError(f"load_weights: layer '{layer.name}' has {len(weights)} weights but {filepath} "
                               f"holds {stored}. Nothing was changed.")


def _read_checked(f, name, weight, where, allow_nonfinite):
    """The array stored for ``weight`` in dataset ``name``: its type and shape checked before it is read."""
    import h5py  # noqa: PLC0415

    where = f"{where} ('{name}')"
    try:
        dataset = f.get(name)
        if not isinstance(dataset, h5py.Dataset):
            raise WeightsFileError(f"{where}: weight '{weight.name}' is missing (no dataset there). "
                                   "Nothing was changed.")
        check_layout(dataset.dtype, dataset.shape, weight, where)
        value = dataset[()]
    except (OSError, RuntimeError, KeyError, TypeError) as exc:
        raise WeightsFileError(f"{where}: weight '{weight.name}' could not be read ({exc}); the file is "
                               "truncated or corrupt. Nothing was changed.") from None
    return checked_value(value, weight, where, allow_nonfinite)
