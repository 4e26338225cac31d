"""``Sequential``: a plain stack of layers, each feeding the next."""
from __future__ import annotations

from ..layers.base import Layer
from ..layers.core import Input, InputLayer
from ..layers.symbolic import KerasTensor
from .model import Model, check_input_against
from .registry import register_built_in
from .serialization import sequential_config, sequential_from_config


class Sequential(Model):
    """``Sequential([Conv2D(...), MaxPooling2D(), ...])`` or ``.add(layer)`` one by one.

    Once the input shape is known (an ``Input``/``InputLayer`` first, an
    ``input_shape=`` on the first layer, or the first batch of data), the model
    is built: every layer is called symbolically, so weights exist and each
    layer knows its output shape (``summary()`` and ``count_params()`` work).
    """

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._stack: list[Layer] = []
        self._input_tensor = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer) -> None:
        if isinstance(layer, KerasTensor) and hasattr(layer, "input_layer"):
            layer = layer.input_layer
        if isinstance(layer, InputLayer):
            if self._stack or self._input_tensor is not None:
                raise ValueError(f"Sequential '{self.name}': an Input can only be the first layer")
            self._input_tensor = layer.output
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential '{self.name}'.add expects a Layer, got {layer!r}")
        self._stack.append(layer)
        if layer not in self._tracked:
            self._tracked.append(layer)
        if self._input_tensor is None and len(self._stack) == 1 and layer._declared_input_shape:
            self._input_tensor = Input(layer._declared_input_shape[1:], batch_size=layer._declared_input_shape[0])
        self.built = False
        if self._input_tensor is not None:
            self._build_graph()

    def pop(self) -> Layer:
        layer = self._stack.pop()
        self._tracked.remove(layer)
        self.built = False
        if self._input_tensor is not None and self._stack:
            self._build_graph()
        return layer

    @property
    def layers(self) -> list[Layer]:
        """The layers, without the InputLayer (as in Keras)."""
        return list(self._stack)

    def _build_graph(self) -> None:
        x = self._input_tensor
        for layer in self._stack:
            x = layer(x)
        self._graph = {"inputs": [self._input_tensor], "outputs": [x], "nodes": [], "chains": []}
        self._single_input = self._single_output = True
        self.built = True
        self._input_shape = self._input_tensor.shape
        self._output_shape = x.shape

    def build(self, input_shape=None) -> None:
        if input_shape is not None and self._input_tensor is None:
            self._input_tensor = Input(tuple(input_shape)[1:])
        if self._input_tensor is None:
            raise ValueError(f"Sequential '{self.name}'.build needs an input shape")
        self._build_graph()

    def _ensure_built(self, shapes):
        if not self.built:
            self.build(shapes)
        Layer._ensure_built(self, shapes)

    def _steps(self) -> list[tuple[Layer, Layer | None]]:
        """The stack as ``call`` runs it: ``(layer, None)`` for a layer on its own,
        ``(layer, next_layer)`` for two neighbours that run as one Function
        (``Layer.fuses_with``: a Conv2D(relu) and the MaxPooling2D after it)."""
        steps, stack, i = [], self._stack, 0
        while i < len(stack):
            if i + 1 < len(stack) and stack[i].fuses_with(stack[i + 1]):
                steps.append((stack[i], stack[i + 1]))
                i += 2
            else:
                steps.append((stack[i], None))
                i += 1
        return steps

    def fused_groups(self) -> list[tuple[tuple[Layer, Layer], str]]:
        """The neighbouring layers that run as one fused Function
        (``ops/conv_pool.py``); ``summary()`` and ``explain()`` list them."""
        return [((layer, fused), "minicnn/ops/conv_pool.py") for layer, fused in self._steps() if fused is not None]

    def call(self, inputs, training=None):
        if self._input_tensor is not None:
            check_input_against(self.name, self._input_tensor, inputs)
        x = inputs
        for layer, fused in self._steps():
            if fused is None:
                x = layer(x, training=training)
            else:
                x = layer(x, training=training, max_pool=fused)  # two layers, one Function
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._stack:
            shape = layer.compute_output_shape(shape)
        return shape

    def get_config(self) -> dict:
        """The layers (an InputLayer first when the input is known), as Keras writes them."""
        return sequential_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return sequential_from_config(cls, config, custom_objects)


register_built_in(Sequential, "Sequential")
