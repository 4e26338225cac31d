"""Layers and models as configs (plain dicts), and back: Keras 3's format.

Every object is written as Keras writes it (``keras/src/saving/serialization_lib.py``)::

    {"module": "keras.layers", "class_name": "Conv2D", "config": {...the constructor's
     arguments...}, "registered_name": None, "build_config": {"input_shape": [None, 32, 32, 3]}}

A Sequential's config lists its layers; a functional model's also records,
for each layer, the calls that make the graph (``inbound_nodes``: which
layer's output, ``[name, node index, tensor index]``, each call received).
``deserialize_layer`` reads such an entry back into a minicnn object.

Reading builds only classes minicnn has (or that you registered, see
``registry.py``) and never runs code from the file: Keras' ``Lambda`` layer,
which stores Python code, is refused. An argument Keras has and minicnn does
not is accepted only with the value at which both compute the same thing
(``groups=1``, no activity regularizer, ...); any other value is a clear error rather
than a model that silently computes something else.
"""
from __future__ import annotations

import inspect

from .. import constraints, initializers, keras_objects, regularizers
from .. import layers as built_in_layers
from ..layers.base import Layer
from ..layers.core import InputLayer
from ..layers.symbolic import KerasTensor
from .functional import in_key_order
from .keras_paths import is_functional, keras_class_name
from .registry import built_in, find_class, registered_name

# Keras arguments minicnn's layers do not take, with the one value at which minicnn computes what Keras does.
INERT_ARGUMENTS = {
    "data_format": "channels_last", "groups": 1, "activity_regularizer": None, "synchronized": False,
    "renorm": False, "renorm_clipping": None, "quantization_config": None, "pad_to_aspect_ratio": False,
    "antialias": False, "sparse": False, "ragged": False, "optional": False, "autocast": True,
}
# Keras arguments that change nothing here whatever their value (the feature they tune is off: see above).
IRRELEVANT_ARGUMENTS = ("renorm_momentum", "fill_mode", "fill_value", "input_axes", "output_axes")


def accepted_arguments(cls) -> set[str]:
    """The keyword arguments ``cls(...)`` takes, following ``**kwargs`` up the class tree."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names - {"self"}


def constructor_arguments(cls, config: dict, where: str) -> dict:
    """``config`` (Keras' or minicnn's) as arguments for the minicnn class ``cls``:
    what ``cls`` takes, dtype policies unwrapped; a Keras-only argument is dropped
    when inert (``INERT_ARGUMENTS``), refused otherwise."""
    accepted = accepted_arguments(cls)
    args = {}
    for key, value in config.items():
        if key == "dtype":
            value = dtype_name(value)
        if key in accepted:
            args[key] = value
        elif key.endswith("_initializer") or key in IRRELEVANT_ARGUMENTS:
            continue  # weights come from the file; an unused initializer changes nothing
        elif (key.endswith(("_constraint", "_regularizer")) and value is None) or (
                key in INERT_ARGUMENTS and _same(value, INERT_ARGUMENTS[key])):
            continue
        else:
            raise ValueError(f"{where}: minicnn does not support {key}={value!r}"
                             + (f" (only {INERT_ARGUMENTS[key]!r})" if key in INERT_ARGUMENTS else "")
                             + ". Nothing was loaded.")
    for suffix, module, names in (("_regularizer", regularizers, "L1, L2, L1L2"),
                                  ("_constraint", constraints, "MaxNorm, MinMaxNorm, NonNeg, UnitNorm")):
        for key in [k for k in args if k.endswith(suffix) and args[k] is not None]:
            try:
                args[key] = module.get(args[key])  # Keras' dicts and names
            except ValueError:
                raise ValueError(f"{where}: {key} {args[key]!r} is not a {suffix[1:]} minicnn has ({names}). "
                                 "Nothing was loaded.") from None
    return args


def _same(a, b) -> bool:
    return a == b or (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and list(a) == list(b))


def dtype_name(dtype):
    """``"float32"`` from a dtype name or from Keras' ``DTypePolicy`` entry."""
    if isinstance(dtype, dict):
        name = (dtype.get("config") or {}).get("name")
        if dtype.get("class_name") != "DTypePolicy" or name not in ("float32", "float64", "float16"):
            raise ValueError(f"dtype policy {dtype.get('class_name')}({name!r}) is not supported by minicnn "
                             "(it computes in one float type per layer)")
        return name
    return dtype


def to_jsonable(value, where: str):
    """``value`` as JSON can hold it: tuples become lists, minicnn initializers
    Keras' dicts; a function or other object is an error naming where it was."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # a NumPy scalar
        return value.item()
    for serialize in (initializers.serialize, keras_objects.serialize):  # keras_objects: regularizers, constraints
        serialized = serialize(value)
        if serialized is not value:
            return serialized
    raise ValueError(f"{where} is {value!r}, which a config file cannot hold (only numbers, strings, lists, "
                     "dicts and minicnn's built-in initializers, regularizers and constraints). Nothing was written.")


def dtype_policy(name: str) -> dict:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


# -- writing ---------------------------------------------------------------------------------
def serialize_layer(layer) -> dict:
    """Keras' entry for one layer or model (``module``, ``class_name``, ``config``, ...)."""
    key = registered_name(type(layer))
    class_name = keras_class_name(layer)
    where = f"Layer '{layer.name}' ({type(layer).__name__})"
    config = to_jsonable(layer.get_config(), f"{where}: get_config()")
    if isinstance(config.get("dtype"), str) and not isinstance(layer, InputLayer):
        config["dtype"] = dtype_policy(config["dtype"])
    if key is not None:
        module, registered = None, key
    elif class_name == "Functional":
        module, registered = "keras.src.models.functional", "Functional"
    elif class_name == "Sequential":
        module, registered = "keras", None
    elif built_in_class(class_name) is type(layer):
        module, registered = "keras.layers", None
    else:
        raise ValueError(f"{where} is your own class: register it with "
                         "@minicnn.utils.register_keras_serializable() so that a saved model can name it.")
    entry = {"module": module, "class_name": class_name, "config": config, "registered_name": registered}
    if not isinstance(layer, InputLayer) and layer.built and layer.input_shape is not None:
        entry["build_config"] = {"input_shape": to_jsonable(layer.input_shape, where)}
    return entry


def sequential_config(model) -> dict:
    entries = [serialize_layer(layer) for layer in model.layers]
    config = {"name": model.name, "trainable": model.trainable, "dtype": model.dtype, "layers": entries}
    if model._input_tensor is not None:
        config["layers"] = [serialize_layer(model._input_tensor.input_layer), *entries]
        config["build_input_shape"] = list(model._input_tensor.shape)
    return config


def functional_config(model) -> dict:
    """A functional model's config: its layers, each with the calls (nodes) that
    belong to this graph, and where the inputs and outputs come from."""
    graph = model._graph
    own = {id(node) for node in graph["nodes"]}
    entries = []
    for layer in model.layers:
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [_node_entry(node, own) for node in layer._inbound_nodes if id(node) in own]
        entries.append(entry)
    ins = [_history(t, own, counts_own_call=True) for t in graph["inputs"]]
    outs = [_history(t, own, counts_own_call=True) for t in graph["outputs"]]
    if model._output_dict is not None:  # Keras writes a dict model's outputs as a dict, in the model's order
        outs = in_key_order(model._output_dict, outs)
    return {"name": model.name, "trainable": model.trainable, "layers": entries,
            "input_layers": ins[0] if model._single_input else ins,
            "output_layers": outs if model._output_dict is not None or not model._single_output else outs[0]}


def _history(tensor: KerasTensor, own, counts_own_call=False) -> list:
    """``[layer name, node index, tensor index]``: which call of which layer made ``tensor``.
    In ``input_layers``/``output_layers`` (``counts_own_call``) a nested functional
    model counts one call of its own first, as Keras does (not in the nodes' arguments)."""
    if tensor.node is None:
        return [tensor.input_layer.name, 0, 0]
    layer = tensor.node.layer
    nodes = [n for n in layer._inbound_nodes if id(n) in own]
    first = 1 if counts_own_call and is_functional(layer) else 0
    return [layer.name, first + next(i for i, n in enumerate(nodes) if n is tensor.node), tensor.index]


def _node_entry(node, own) -> dict:
    def tensor_entry(t):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(t.shape), "dtype": t.dtype, "keras_history": _history(t, own)}}

    inputs = node.inputs
    arg = [tensor_entry(t) for t in inputs] if isinstance(inputs, (list, tuple)) else tensor_entry(inputs)
    kwargs = {k: v for k, v in node.kwargs.items() if not k.startswith("_")}
    return {"args": [arg, *to_jsonable(node.kwargs.get("_args", ()), node.layer.name)],
            "kwargs": to_jsonable(kwargs, node.layer.name)}


# -- reading ---------------------------------------------------------------------------------
def built_in_class(class_name):
    """minicnn's class for a Keras class name (``Conv2D``, ``Sequential``, ``Functional``)."""
    cls = getattr(built_in_layers, class_name, None) if class_name in built_in_layers.__all__ else None
    return cls if isinstance(cls, type) and issubclass(cls, Layer) else built_in(class_name)


def deserialize_layer(entry, custom_objects=None) -> Layer:
    """A minicnn layer or model from Keras' entry (see ``serialize_layer``), built
    for its recorded input shape."""
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(f"A layer entry must be a dict with a 'class_name', got {entry!r}")
    class_name = entry["class_name"]
    config = dict(entry.get("config") or {})
    where = f"Layer '{config.get('name', entry.get('name'))}' ({class_name})"
    if class_name in ("Lambda", "TFOpLambda") or entry.get("module") == "builtins":
        raise ValueError(f"{where} holds Python code. minicnn never runs code from a file: write it as a "
                         "layer class, register it (@minicnn.utils.register_keras_serializable) and save again.")
    cls = find_class(entry, custom_objects, built_in_class)
    if cls is None:
        raise ValueError(f"{where}: unknown class (registered name {entry.get('registered_name')!r}). minicnn has "
                         "no such layer; for your own class, register it with "
                         "@minicnn.utils.register_keras_serializable or pass custom_objects={name: class}.")
    if "dtype" in config:
        config["dtype"] = dtype_name(config["dtype"])
    try:
        if cls.__module__.startswith("minicnn.") and cls is built_in_class(class_name):
            if hasattr(cls, "_init_trainer"):  # a Sequential or functional model
                layer = cls.from_config(config, custom_objects)
            else:
                layer = cls(**constructor_arguments(cls, config, where))
        else:
            layer = cls.from_config(config)
    except (TypeError, ValueError) as exc:
        if str(exc).endswith("Nothing was loaded."):
            raise
        raise ValueError(f"{where} could not be made from its config: {exc}. A class of your own needs a "
                         "get_config() that returns its constructor's arguments. Nothing was loaded.") from None
    shape = (entry.get("build_config") or {}).get("input_shape")
    if shape is not None and not layer.built:
        layer.build(_shape(shape))
    return layer


def _shape(shape):
    if shape and isinstance(shape[0], (list, tuple)):
        return [tuple(s) for s in shape]
    return tuple(shape)


def sequential_from_config(cls, config, custom_objects=None):
    model = cls(name=config.get("name"), trainable=config.get("trainable", True))
    for entry in config.get("layers", []):
        model.add(deserialize_layer(entry, custom_objects))
    shape = config.get("build_input_shape")
    if shape is not None and model._input_tensor is None:
        model.build(tuple(shape))
    return model


def functional_from_config(cls, config, custom_objects=None):
    """Rebuild the graph: make each layer, then replay its calls once their inputs exist."""
    made, outputs, pending = {}, {}, []
    for entry in config["layers"]:
        layer = deserialize_layer(entry, custom_objects)
        name = entry.get("name", layer.name)
        made[name] = layer
        outputs[name] = [layer.output] if isinstance(layer, InputLayer) else []
        pending += [(name, node) for node in entry.get("inbound_nodes", [])]

    def tensor(history, counts_own_call=False):
        name, node_index, tensor_index = history
        layer = made.get(name)
        if layer is None:
            raise ValueError(f"The model config refers to a layer {name!r} that it does not define.")
        node_index -= 1 if counts_own_call and is_functional(layer) else 0
        if node_index >= len(outputs[name]):
            return None
        out = outputs[name][node_index]
        return out[tensor_index] if isinstance(out, (list, tuple)) else out

    while pending:
        waiting = []
        for name, node in pending:
            args = [_revive(a, tensor) for a in node.get("args", [])]
            if _missing(args):
                waiting.append((name, node))
                continue
            kwargs = _call_arguments(node.get("kwargs") or {}, name)
            outputs[name].append(made[name](*args, **kwargs))
        if len(waiting) == len(pending):
            raise ValueError(f"The model config's graph cannot be rebuilt: the calls of "
                             f"{sorted({n for n, _ in waiting})} wait for inputs that never come.")
        pending = waiting
    ins = _revive_history(config["input_layers"], lambda h: tensor(h, counts_own_call=True))
    outs = config["output_layers"]
    revive_out = lambda h: tensor(h, counts_own_call=True)  # noqa: E731 - one line, used twice below
    outs = ({k: _revive_history(v, revive_out) for k, v in outs.items()} if isinstance(outs, dict)
            else _revive_history(outs, revive_out))
    return cls(ins, outs, name=config.get("name"), trainable=config.get("trainable", True))


def _call_arguments(kwargs, name):
    """A node's keyword arguments, less Keras' ``mask=None`` and ``training``: Keras
    records a random layer's default ``training=True`` but overrides it with the
    model's own mode whenever the model runs, so the model's mode is what counts."""
    out = {k: v for k, v in kwargs.items() if not (k == "mask" and v is None) and k != "training"}
    if out:
        raise ValueError(f"Layer {name!r} is called with {sorted(out)} in the file; "
                         "minicnn's layers take no such argument. Nothing was loaded.")
    return out


def _revive(value, tensor):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return tensor(value["config"]["keras_history"])
    if isinstance(value, list):
        return [_revive(v, tensor) for v in value]
    return value


def _missing(value) -> bool:
    return value is None or (isinstance(value, list) and any(_missing(v) for v in value))


def _revive_history(structure, tensor):
    if isinstance(structure, list) and len(structure) == 3 and isinstance(structure[0], str):
        return tensor(structure)
    if isinstance(structure, dict):
        return [_revive_history(v, tensor) for v in structure.values()]
    return [_revive_history(v, tensor) for v in structure]
