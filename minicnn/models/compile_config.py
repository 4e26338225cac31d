"""How a model was compiled, as the ``compile_config`` of a ``.keras`` file (Keras' schema).

    {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {...}},
     "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"], ...}

The loss and metrics are written as they were given to ``compile`` (a name, or
one of the built-in classes with its arguments); for a model with several
outputs, in the list or dict by output name they were given in, with the
``loss_weights``, as Keras writes them. The optimizer is written with its
current settings (a learning rate that ``ReduceLROnPlateau`` lowered is the
lowered one). ``load_model(compile=True)`` compiles the new model with them.
"""
from __future__ import annotations

from .. import losses, metrics, optimizers
from .serialization import constructor_arguments, to_jsonable

# Keras loss arguments minicnn has no use for, at the value at which both compute the same loss
_LOSS_INERT = {"reduction": "sum_over_batch_size", "label_smoothing": 0.0, "axis": -1, "ignore_class": None}


def compile_config(model) -> dict:
    """``{}`` for a model that was not compiled, as Keras writes."""
    given = getattr(model, "_compile_arguments", None)
    if not getattr(model, "_compiled", False) or given is None:
        return {}
    return {
        "optimizer": _entry("keras.optimizers", model.optimizer, model.optimizer.get_config(), "optimizer"),
        "loss": _each(given.get("loss"), _loss_entry),
        "loss_weights": _each(given.get("loss_weights"), float),
        "metrics": _each(given.get("metrics"), _metric_entry),
        "weighted_metrics": _each(given.get("weighted_metrics"), _metric_entry), "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False,
    }


def _each(structure, entry):
    """``entry`` of every leaf of a compile argument as given: a leaf, or a list or dict
    (by output name) of leaves or of lists of leaves; None stays None. A dict with a
    'class_name' is a leaf (a saved class entry), not a dict by output name."""
    if isinstance(structure, dict) and "class_name" not in structure:
        return {str(k): _each(v, entry) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [_each(v, entry) for v in structure]
    return None if structure is None else entry(structure)


def _entry(module, obj, config, what) -> dict:
    return {"module": module, "class_name": type(obj).__name__,
            "config": to_jsonable(config, f"compile(): the {what} {type(obj).__name__}"), "registered_name": None}


def _loss_entry(loss):
    if isinstance(loss, str):
        return loss
    if isinstance(loss, losses.Loss) and getattr(losses, type(loss).__name__, None) is type(loss):
        config = {"name": loss.name, "reduction": "sum_over_batch_size"}
        if hasattr(loss, "from_logits"):
            config["from_logits"] = loss.from_logits
        return _entry("keras.losses", loss, config, "loss")
    raise ValueError(f"compile(): the loss {loss!r} cannot be saved in a .keras file: give compile() a loss "
                     "by name or one of minicnn.losses' classes. Nothing was written.")


def _metric_entry(metric):
    cls = type(metric)
    if isinstance(metric, str):
        return metric
    if getattr(metrics, cls.__name__, None) is cls and isinstance(cls, type):
        names = [n for n in ("name", "dtype", "threshold", "k") if hasattr(metric, n)]
        config = {n: getattr(metric, n) for n in names}
        config.setdefault("dtype", "float32")
        return _entry("keras.metrics", metric, config, "metric")
    raise ValueError(f"compile(): the metric {metric!r} cannot be saved in a .keras file: give compile() "
                     "a metric by name or one of minicnn.metrics' classes. Nothing was written.")


def compile_arguments(config: dict) -> dict:
    """``compile(**...)``'s arguments from a saved ``compile_config``."""
    arguments = {"optimizer": _object(config.get("optimizer"), optimizers, optimizers.Optimizer, "optimizer"),
                 "loss": _each(config.get("loss"), lambda e: _object(e, losses, losses.Loss, "loss")),
                 "metrics": _each(_flat(config.get("metrics")), lambda e: _object(e, metrics, object, "metric")),
                 "weighted_metrics": _each(_flat(config.get("weighted_metrics")),
                                           lambda e: _object(e, metrics, object, "metric"))}
    if config.get("loss_weights") is not None:  # compile() checks them against the model's outputs
        arguments["loss_weights"] = config["loss_weights"]
    return arguments


def _flat(metric_list):
    if isinstance(metric_list, list) and len(metric_list) == 1 and isinstance(metric_list[0], list):
        return metric_list[0]  # one output's list, as Keras writes it for a single-output model
    return metric_list


def _object(entry, module, base, what):
    """A name stays a name (``compile`` resolves it); a dict becomes the built-in class it names."""
    if entry is None or isinstance(entry, str):
        return entry
    if not isinstance(entry, dict):
        raise ValueError(f"compile_config: the {what} {entry!r} is neither a name nor a class entry. "
                         "Nothing was loaded.")
    name = entry.get("class_name")
    cls = getattr(module, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, base)) or entry.get("registered_name") not in (None, name):
        raise ValueError(f"compile_config: the {what} {name!r} is not one of minicnn's; load with compile=False "
                         "and compile the model yourself. Nothing was loaded.")
    config = dict(entry.get("config") or {})
    where = f"compile_config: {what} {name}"
    if base is losses.Loss:
        unsupported = {k: config[k] for k in _LOSS_INERT if k in config and config[k] != _LOSS_INERT[k]}
        if unsupported:
            raise ValueError(f"{where}: minicnn does not support {unsupported}. Nothing was loaded.")
        config = {k: v for k, v in config.items() if k not in (*_LOSS_INERT, "name", "dtype")}
    try:
        return cls(**(config if base is optimizers.Optimizer else constructor_arguments(cls, config, where)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}" + ("" if str(exc).endswith("Nothing was loaded.")
                                               else ". Nothing was loaded.")) from None
