"""Whole-model files: ``model.save("m.keras")`` and ``load_model``, in Keras 3's own format.

A ``.keras`` file is a zip archive of three files, exactly as Keras 3 writes it
(``keras/src/saving/saving_lib.py``):

* ``config.json``: the architecture (``serialization.py``: every layer's class and
  arguments, and for a functional model the graph) and ``compile_config``
  (optimizer, loss, metrics: ``compile_config.py``);
* ``model.weights.h5``: every weight and the optimizer's state (``keras_weights.py``);
* ``metadata.json``: the Keras format version and the date.

So ``keras.models.load_model`` opens minicnn's files and ``minicnn.models.load_model``
opens Keras' (for the layers minicnn has). Loading never runs code from the
file, builds a new model and touches nothing else: a file that does not fit
raises and leaves no half-made state behind.
"""
from __future__ import annotations

import datetime
import io
import json
import os
import zipfile

from ..atomic_files import atomic_path
from .compile_config import compile_arguments, compile_config
from .keras_weights import read_optimizer_state, write_weights
from .serialization import deserialize_layer, serialize_layer
from .weights_file import read_weights

KERAS_FORMAT_VERSION = "3.15.1"  # the Keras release whose .keras layout these files follow
_CONFIG, _WEIGHTS, _METADATA = "config.json", "model.weights.h5", "metadata.json"


def save_model(model, filepath, overwrite=True) -> None:
    """Write ``model`` to ``filepath`` (ending in ``.keras``), atomically."""
    import h5py  # noqa: PLC0415

    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(f"save: the file name must end in '.keras' (Keras' whole-model format), got {filepath!r}; "
                         "for the weights alone use save_weights('....weights.h5')")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save: {filepath} exists and overwrite=False")
    if not model.built:
        raise ValueError(f"save: model '{model.name}' is not built yet (no weights): give it an Input or "
                         "call it on data first")
    config = {**serialize_layer(model), "compile_config": compile_config(model)}
    metadata = {"keras_version": KERAS_FORMAT_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights = io.BytesIO()
    with h5py.File(weights, "w") as f:
        write_weights(model, f)
    with atomic_path(filepath) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr(_METADATA, json.dumps(metadata))
        archive.writestr(_CONFIG, json.dumps(config))
        archive.writestr(_WEIGHTS, weights.getvalue())


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):  # noqa: A002 - Keras' name
    """The model saved in a ``.keras`` file (by minicnn or by Keras), with its weights,
    and, with ``compile=True``, compiled as it was, optimizer state included.

    ``custom_objects``: ``{name: class}`` for your own layers/models when they are
    not registered (``minicnn.utils.register_keras_serializable``). ``safe_mode``
    is accepted for Keras' sake; minicnn never runs code from a file either way.
    """
    import h5py  # noqa: PLC0415

    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"load_model: no such file: {filepath}")
    if filepath.endswith(".weights.h5"):
        raise ValueError(f"load_model: {filepath} holds weights only; build the model and call load_weights on it")
    try:
        with zipfile.ZipFile(filepath) as archive:
            config = json.loads(archive.read(_CONFIG))
            weights = io.BytesIO(archive.read(_WEIGHTS))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValueError(f"load_model: {filepath} is not a .keras file (a zip archive with {_CONFIG} and "
                         f"{_WEIGHTS}): {exc}") from None
    if not isinstance(config, dict):
        raise ValueError(f"load_model: {filepath}: {_CONFIG} does not hold a model config")
    model = deserialize_layer(config, custom_objects)
    compile_config_ = config.get("compile_config") or {}
    if compile and compile_config_:
        model.compile(**compile_arguments(compile_config_))
    try:
        f = h5py.File(weights, "r")
    except OSError as exc:
        raise ValueError(f"load_model: {filepath}: {_WEIGHTS} is not a readable HDF5 file ({exc})") from None
    with f:
        plan = read_weights(model, f, f"{filepath} ({_WEIGHTS})")
        restore_optimizer = read_optimizer_state(model, f, f"load_model: {filepath}")
    for w, value in plan:
        w.assign(value)
    if restore_optimizer is not None:
        restore_optimizer()
    return model


def model_from_json(json_string, custom_objects=None):
    """A new model (fresh weights) from ``model.to_json()``'s text, as Keras'."""
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model_from_json: not a JSON model config ({exc})") from None
    return deserialize_layer(config, custom_objects)


def clone_model(model, custom_objects=None):
    """A new model with the same architecture and new, freshly initialised weights
    (as Keras' ``clone_model``; copy the weights with ``set_weights`` if you want them)."""
    return deserialize_layer(json.loads(json.dumps(serialize_layer(model))), custom_objects)
