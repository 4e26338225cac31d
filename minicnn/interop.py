"""Move a model between minicnn and Keras, trained weights included.

    keras_model = minicnn.interop.to_keras(model)      # continue in Keras
    model = minicnn.interop.from_keras(keras_model)    # and back

Both rebuild the same architecture from each layer's ``get_config()`` (the
layer classes and their arguments have the same names in both libraries), then
copy every layer's weights with ``set_weights``. Sequential and functional
models (nested ones too) convert; a subclassed model has no layer graph to
rebuild, so it raises. Keras is imported only when these functions run; files
need no Keras at all: ``model.save_weights`` writes Keras' ``.weights.h5`` layout.
"""
from __future__ import annotations

from . import layers as mc_layers
from .layers.core import InputLayer
from .models import Model, Sequential
from .models.functional import in_key_order
from .models.serialization import accepted_arguments, constructor_arguments

# Arguments not carried over: the weights are copied, so initialisers are not needed. Regularizers and
# constraints go across (as Keras' dicts, or your function as it is): training goes on the same.
_SKIPPED = ("initializer",)


def to_keras(model):
    """A Keras model with the same layers and weights as this minicnn model."""
    import keras  # noqa: PLC0415 - only users who convert need Keras

    return _convert(model, keras, keras.layers, keras.Input, keras.Sequential, keras.Model, _mc_graph)


def from_keras(keras_model):
    """A minicnn model with the same layers and weights as this Keras model."""
    return _convert(keras_model, None, mc_layers, mc_layers.Input, Sequential, Model, _keras_graph)


def _convert(model, keras, target_layers, make_input, make_sequential, make_model, graph_of):
    if _is_sequential(model):
        first = model.inputs[0] if model.inputs else None
        if first is None:
            raise ValueError(f"Model '{model.name}' is not built: give it an Input first.")
        new = make_sequential([make_input(tuple(first.shape[1:]))], name=model.name)
        for layer in model.layers:
            converted = _convert_layer(layer, keras, target_layers, make_input, make_sequential, make_model,
                                       graph_of)
            new.add(converted)  # builds it: the input shape is known
            _copy_weights(converted, layer)
        return new
    graph = graph_of(model)
    if graph is None:
        raise ValueError(f"Model '{model.name}' is subclassed: it has no layer graph to rebuild. "
                         "Build it functionally or as a Sequential model to convert it.")
    inputs, outputs, nodes = graph
    values = {id(t): make_input(tuple(t.shape[1:]), name=_input_name(t)) for t in inputs}
    converted = {}
    for layer, node_inputs, node_outputs in nodes:
        if id(layer) not in converted:
            converted[id(layer)] = _convert_layer(layer, keras, target_layers, make_input, make_sequential,
                                                  make_model, graph_of)
        args = [values[id(t)] for t in node_inputs]
        result = converted[id(layer)](args if len(args) > 1 else args[0])
        _copy_weights(converted[id(layer)], layer)
        for t, r in zip(node_outputs, result if isinstance(result, list) else [result]):
            values[id(t)] = r
    outs = [values[id(t)] for t in outputs]
    keys = _output_dict_keys(model)
    if keys is not None:  # a model that returns a dict: its outputs are listed by sorted key (both libraries)
        outs = in_key_order(keys, outs)
    return make_model([values[id(t)] for t in inputs] if len(inputs) > 1 else values[id(inputs[0])],
                      outs if isinstance(outs, dict) or len(outs) > 1 else outs[0], name=model.name)


def _output_dict_keys(model):
    """The keys of a functional model built with a dict of outputs, in its order; None otherwise."""
    keys = getattr(model, "_output_dict", None)  # minicnn
    struct = getattr(model, "_outputs_struct", None)  # Keras
    return list(struct) if keys is None and isinstance(struct, dict) else keys


def _convert_layer(layer, keras, target_layers, *model_makers):
    """The equivalent layer, unbuilt (its weights are copied by ``_call_and_copy``)."""
    if hasattr(layer, "layers"):  # a nested model: converted whole, weights included
        return _convert(layer, keras, target_layers, *model_makers)
    cls = getattr(target_layers, type(layer).__name__, None)
    if cls is None:
        side = "Keras" if keras is not None else "minicnn"
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) has no {side} equivalent to convert to.")
    if keras is None:  # into minicnn: the same checks as loading a Keras file (unsupported values refused)
        return cls(**constructor_arguments(cls, layer.get_config(), f"Layer '{layer.name}' ({type(layer).__name__})"))
    return cls(**_arguments(layer, cls))


def _copy_weights(new, source):
    if source.weights and not hasattr(source, "layers"):
        new.set_weights(source.get_weights())


def _arguments(layer, cls) -> dict:
    """The minicnn layer's config, restricted to the arguments the Keras class accepts."""
    config = layer.get_config()
    accepted = accepted_arguments(cls)
    args = {k: v for k, v in config.items()
            if (k in accepted or accepted is None) and not any(s in k for s in _SKIPPED)}
    for key, value in args.items():
        if key.endswith(("_regularizer", "_constraint")) and callable(value):
            raise ValueError(f"Layer '{layer.name}': {key} is your function {value!r}, which Keras would call on "
                             "its own tensors; to_keras carries the built-in regularizers and constraints only "
                             "(give the layer one of minicnn.regularizers'/constraints' classes). Nothing was "
                             "converted.")
    args["dtype"] = str(layer.dtype if isinstance(layer.dtype, str) else layer.dtype.name)
    args.pop("batch_shape", None)
    return args


def _is_sequential(model) -> bool:
    return type(model).__name__ == "Sequential"


def _input_name(tensor):
    layer = getattr(tensor, "input_layer", None)
    return getattr(layer, "name", None)


def _mc_graph(model):
    """(inputs, outputs, [(layer, node inputs, node outputs)]) of a functional minicnn model."""
    if getattr(model, "_graph", None) is None or not model._graph["nodes"]:
        return None
    g = model._graph
    nodes = [(n.layer, n.input_tensors, n.output_tensors) for n in g["nodes"]
             if not isinstance(n.layer, InputLayer)]
    return g["inputs"], g["outputs"], nodes


def _keras_graph(model):
    """The same for a Keras functional model (its operations in execution order)."""
    if not hasattr(model, "_nodes_by_depth"):
        return None
    nodes = []
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.operation.__class__.__name__ == "InputLayer":
                continue
            nodes.append((node.operation, list(node.input_tensors), list(node.output_tensors)))
    return list(model.inputs), list(model.outputs), nodes
