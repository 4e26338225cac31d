"""Where Keras 3 keeps each layer's weights inside an HDF5 weights file.

Keras does not address a layer by its name (auto-generated names differ between
two instances of one model) but by the way it reaches the layer from the model
(``keras/src/saving/saving_lib.py``, ``_save_state``):

* a Sequential or functional model lists ``layers``; each is stored under its
  class in snake case, numbered within that list: ``layers/conv2d``,
  ``layers/conv2d_1``, ``layers/max_pooling2d`` (an ``InputLayer`` of a
  functional model too, as ``layers/input_layer``, with no weights);
* any other layer or model (a subclassed ``Model``, a custom layer with
  sublayers) is walked by attribute name, in sorted order: ``self.dense1``
  is stored at ``dense1``, a list ``self.blocks`` at ``blocks/dense``,
  ``blocks/dense_1``; a subclassed model's ``layers`` list counts as an
  attribute too, so a sublayer not reached by an earlier name ends up under
  ``layers/<class>``. Each layer is stored once, where it is first reached;
* a layer's own variables are at ``<path>/vars/0``, ``/1``, ... in creation
  order; a model's own ``vars`` group is empty (``vars`` at the root for the
  top-level model).

``layer_paths`` lists ``(path, layer, own weights)`` in that layout, for the
``.weights.h5`` files (``weights_file.py``) and the weights inside a ``.keras``
file (``keras_file.py``).
"""
from __future__ import annotations

from ..layers.base import Layer, to_snake_case


def keras_class_name(layer) -> str:
    """The class name Keras would write: a functional minicnn ``Model`` is Keras' ``Functional``."""
    if is_functional(layer):
        return "Functional"
    return type(layer).__name__


def is_functional(layer) -> bool:
    """A ``Model(inputs, outputs)`` (not a Sequential, not subclassed)."""
    return (type(layer).__name__ == "Model" and getattr(layer, "_graph", None) is not None
            and type(layer).__module__.startswith("minicnn."))


def is_graph_model(layer) -> bool:
    """A Sequential or functional model: its ``layers`` list is what Keras walks."""
    return is_functional(layer) or type(layer).__name__ == "Sequential"


def layer_paths(model) -> list[tuple[str, Layer, list]]:
    """``(path, layer, own weights)`` for every layer under ``model``, the model itself
    first (at ``""``, stored as the root ``vars``)."""
    out: list = []
    _visit(model, "", out, set())
    return out


def _visit(layer, path, out, seen):
    if id(layer) in seen:
        return
    seen.add(id(layer))
    out.append((path, layer, list(layer._own_weights)))
    for name, child in _children(layer):
        child_path = f"{path}/{name}" if path else name
        if isinstance(child, Layer):
            _visit(child, child_path, out, seen)
        else:
            _visit_list(child, child_path, out, seen)


def _visit_list(layers, path, out, seen):
    used: dict[str, int] = {}
    for layer in layers:
        base = to_snake_case(keras_class_name(layer))
        used[base] = used.get(base, -1) + 1
        _visit(layer, f"{path}/{base}" if used[base] == 0 else f"{path}/{base}_{used[base]}", out, seen)


def _children(layer):
    """What Keras walks from ``layer``: (attribute name, layer or list of layers)."""
    if is_graph_model(layer):
        return [("layers", layer.layers)]
    found = {}
    for name, value in vars(layer).items():
        if name.startswith("_"):
            continue
        if isinstance(value, Layer) and value is not layer:
            found[name] = value
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Layer) for v in value):
            found[name] = list(value)
    if hasattr(layer, "_graph") and "layers" not in found:  # a subclassed Model's ``layers`` property
        found["layers"] = list(layer._tracked)
    children = sorted(found.items())
    children.append(("_layers", list(layer._tracked)))  # Keras' private list, visited last
    return children
