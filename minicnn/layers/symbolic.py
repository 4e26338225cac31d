"""Symbolic tensors: how the functional API records a graph of layers.

``Input(shape)`` returns a ``KerasTensor``: a shape and a dtype, no data.
Calling a layer on KerasTensors does not compute anything; it builds the layer
for that shape, works out the output shape and records a ``Node`` (this layer
was applied to these inputs and gave these outputs). ``Model(inputs, outputs)``
later walks the nodes back from the outputs to find what to run, in order.

``x + y`` on two KerasTensors records an ``Add`` layer, as in Keras. This module
imports no layer module (the layers build on it, so that would be a circle):
``merging.py``, where ``Add`` is defined, names it in ``KerasTensor.add_layer``.
"""
from __future__ import annotations


class KerasTensor:
    """A placeholder with a shape (batch axis ``None``) and a dtype."""

    add_layer = None  # the layer class ``x + y`` applies: layers.Add, set by merging.py

    def __init__(self, shape, dtype="float32", node=None, index=0, name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node  # the Node that produced this tensor (None for a fresh Input)
        self.index = index
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __add__(self, other):
        """``x + y`` is ``layers.Add()([x, y])``: a new Add layer in the graph.
        Only two symbolic tensors add up (not a tensor and a number)."""
        if not isinstance(other, KerasTensor):
            return NotImplemented
        return self.add_layer()([self, other])


class Node:
    """One application of a layer inside a functional graph."""

    def __init__(self, layer, inputs, outputs, kwargs):
        self.layer = layer
        self.inputs = inputs  # KerasTensor or list of KerasTensors
        self.outputs = outputs
        self.kwargs = kwargs

    @property
    def input_tensors(self) -> list:
        return list(self.inputs) if isinstance(self.inputs, (list, tuple)) else [self.inputs]

    @property
    def output_tensors(self) -> list:
        return list(self.outputs) if isinstance(self.outputs, (list, tuple)) else [self.outputs]


def is_symbolic(x) -> bool:
    if isinstance(x, KerasTensor):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(t, KerasTensor) for t in x)
    return False


def map_structure(fn, x):
    """Apply ``fn`` to a tensor or to each element of a list/tuple or dict of tensors."""
    if isinstance(x, (list, tuple)):
        return type(x)(fn(t) for t in x)
    if isinstance(x, dict):
        return {k: fn(t) for k, t in x.items()}
    return fn(x)
