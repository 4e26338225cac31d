"""``Model``: a layer with ``compile``/``fit``/``evaluate``/``predict``.

Three ways to build one, as in Keras:

* functional: ``Model(inputs=x_in, outputs=y)`` over a graph of layer calls;
* subclassing: ``class Net(Model)`` with layers as attributes and a ``call``;
* ``Sequential`` (see ``sequential.py``), a stack of layers.
"""
from __future__ import annotations

import inspect
import json

import numpy as np

from ..autograd import no_grad
from ..layers.base import InputSpec, Layer, to_snake_case, training_scope, unique_name
from ..layers.symbolic import KerasTensor
from .functional import in_key_order, keras_layer_order, run_graph, topological_nodes
from .fusion import plan_chains
from .explain import print_explanation
from .keras_paths import is_functional
from .registry import register_built_in
from .saving import save_model
from .serialization import functional_config, functional_from_config, serialize_layer
from .summary import print_summary
from .training import Trainer


class Model(Trainer, Layer):
    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        trainable = kwargs.pop("trainable", True)
        super().__init__(name=name or unique_name(self._default_name()), trainable=trainable, **kwargs)
        self._init_trainer()
        self._graph = None
        self._output_dict = None  # the keys, for a functional model built with a dict of outputs
        if inputs is not None or outputs is not None:
            self._init_graph(inputs, outputs)

    def _default_name(self):
        return "functional" if type(self) is Model else self._snake_name()

    def _snake_name(self):
        return to_snake_case(type(self).__name__)

    # -- functional graph ----------------------------------------------------------
    def _init_graph(self, inputs, outputs):
        self._single_input = isinstance(inputs, KerasTensor)
        self._single_output = isinstance(outputs, KerasTensor)
        ins = [inputs] if self._single_input else list(inputs)
        # outputs as a dict {key: tensor}: the model returns a dict (in the order given), and
        # the keys name the outputs in compile, fit and the logs; Keras keeps them in sorted order
        self._output_dict = list(outputs) if isinstance(outputs, dict) else None
        if self._output_dict is not None:
            outs = [outputs[k] for k in sorted(outputs)]
        else:
            outs = [outputs] if self._single_output else list(outputs)
        for t in ins + outs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model inputs/outputs must come from Input() and layer calls, got {t!r}")
        nodes = topological_nodes(ins, outs)
        layers = keras_layer_order(ins, outs)
        self._graph = {"inputs": ins, "outputs": outs, "nodes": nodes, "chains": plan_chains(nodes, outs)}
        self._layer_list = layers
        for layer in layers:
            if all(layer is not t for t in self._tracked):
                self._tracked.append(layer)
        self.built = True
        shapes = [t.shape for t in ins]
        self._input_shape = shapes[0] if self._single_input else shapes
        out_shapes = [t.shape for t in outs]
        self._output_shape = out_shapes[0] if self._single_output else out_shapes
        if self._single_input:
            self.input_spec = InputSpec(ndim=len(ins[0].shape),
                                        axes={i: s for i, s in enumerate(ins[0].shape) if i and s is not None})

    @property
    def layers(self) -> list[Layer]:
        """The layers, in order (a functional model's list starts with its InputLayer)."""
        if self._graph is not None:
            return list(self._layer_list)
        return list(self._tracked)

    def fused_groups(self) -> list:
        """The chains of this graph that run as one convolution where they may
        (``models/fusion.py``), as ``(layers, where)``."""
        if self._graph is None:
            return []
        return [(tuple(chain.layers), "minicnn/models/fusion.py") for chain in self._graph.get("chains", ())]

    def get_layer(self, name=None, index=None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No layer named {name!r} in model '{self.name}'. "
                         f"Layers: {[l.name for l in self.layers]}")

    @property
    def inputs(self):
        return self._graph["inputs"] if self._graph else None

    @property
    def outputs(self):
        return self._graph["outputs"] if self._graph else None

    @property
    def output_names(self) -> list[str]:
        """The names of the layers that produce the outputs, in output order (Keras'
        ``output_names``): the keys of dicts of targets, losses and metrics."""
        outs = self.outputs or []
        return [t.name if t.node is None else t.node.layer.name for t in outs]

    @property
    def _output_keys(self) -> list[str]:
        """What dicts of targets, losses, metrics and sample weights are keyed by, in
        output order: a dict model's keys (sorted, as Keras), else ``output_names``."""
        return sorted(self._output_dict) if self._output_dict is not None else self.output_names

    @property
    def input(self):
        ins = self.inputs
        if ins is None:
            raise AttributeError(f"Model '{self.name}' has no symbolic input (it is subclassed or unbuilt).")
        return ins[0] if len(ins) == 1 else ins

    @property
    def output(self):
        outs = self.outputs
        if outs is None:
            raise AttributeError(f"Model '{self.name}' has no symbolic output (it is subclassed or unbuilt).")
        return outs[0] if len(outs) == 1 else outs

    def call(self, inputs, training=None):
        if self._graph is None:
            raise NotImplementedError(f"Subclassed model '{self.name}' must implement call()")
        g = self._graph
        given = [inputs] if self._single_input else list(inputs)
        if len(given) != len(g["inputs"]):
            raise ValueError(f"Model '{self.name}' expects {len(g['inputs'])} inputs, got {len(given)}")
        values = {}
        for kt, x in zip(g["inputs"], given):
            check_input_against(self.name, kt, x)
            values[id(kt)] = x
        out = run_graph(g["nodes"], g["inputs"], g["outputs"], values, training, g["chains"])
        if self._output_dict is not None:
            return in_key_order(self._output_dict, out)
        return out[0] if self._single_output else out

    def _symbolic_call(self, inputs, training, args, kwargs):
        """Called on KerasTensors inside another functional model: a model built with a
        dict of outputs gives a dict of KerasTensors, as its ``call`` gives a dict of values
        (the node keeps them as a list in sorted-key order, which ``run_graph`` follows)."""
        outputs = super()._symbolic_call(inputs, training, args, kwargs)
        return outputs if self._output_dict is None else in_key_order(self._output_dict, outputs)

    def compute_output_shape(self, input_shape):
        if self._graph is not None:
            shapes = [t.shape for t in self._graph["inputs"]]
            given = [tuple(input_shape)] if self._single_input else [tuple(s) for s in input_shape]
            if all(tuple(a[1:]) == tuple(b[1:]) for a, b in zip(shapes, given)):
                return self._output_shape
        return super().compute_output_shape(input_shape)

    # -- building subclassed models --------------------------------------------------
    def _ensure_built(self, shapes):
        if self._graph is None and not self.built:
            self.built = True  # the call that follows builds every sublayer
        super()._ensure_built(shapes)

    def build(self, input_shape):
        """Build every sublayer by running the model once on zeros of ``input_shape``.

        Keras 3 builds no sublayers here; Keras 2 did, and code that calls
        ``count_params()`` or ``summary()`` right after ``build`` relies on it.
        """
        self.built = True
        if self._graph is not None:
            return
        shape = tuple(input_shape)
        if any(s is None for s in shape[1:]):
            raise ValueError(f"Model '{self.name}'.build needs known sizes except the batch, got {shape}")
        with no_grad(), training_scope(False):
            self(np.zeros((1, *shape[1:]), dtype=self.dtype), training=False)

    # -- configs and files (Keras 3's formats: serialization.py, saving.py) -------------------
    def compile(self, *args, **kwargs):
        """As ``Trainer.compile``; the arguments are also kept as given, for ``save``."""
        super().compile(*args, **kwargs)
        self._compile_arguments = inspect.signature(Trainer.compile).bind(self, *args, **kwargs).arguments

    def get_config(self) -> dict:
        """A functional model's layers and graph (Keras' schema); a subclassed model's
        own ``get_config`` should add its constructor's arguments to this."""
        if is_functional(self):
            return functional_config(self)
        return super().get_config()

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model (fresh weights) from ``get_config()``'s dict."""
        if "input_layers" in config and "layers" in config:
            return functional_from_config(cls, config, custom_objects)
        return cls(**config)

    def to_json(self, **kwargs) -> str:
        """The architecture as Keras' JSON (``minicnn.models.model_from_json`` reads it)."""
        return json.dumps(serialize_layer(self), **kwargs)

    def save(self, filepath, overwrite=True) -> None:
        """Write the whole model (architecture, weights, compile settings and optimizer
        state) to a Keras 3 ``.keras`` file; ``minicnn.models.load_model`` and
        ``keras.models.load_model`` read it back."""
        save_model(self, filepath, overwrite=overwrite)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None, explain=False):
        """Print the layer table Keras prints: Layer (type) / Output Shape / Param #,
        with Keras' options (``models/summary.py``).

        ``explain=True`` adds ``explain()``'s worked formulas below the table.
        """
        print_summary(self, line_length, positions, print_fn, expand_nested, show_trainable, layer_range)
        if explain:
            print_explanation(self, print_fn=print_fn)

    def explain(self, batch_size=None, print_fn=None):
        """Print, per layer, the output-size formula with its numbers, the parameter
        formula, multiply-adds and activation memory, then forward/training-step
        totals (see ``minicnn/models/explain.py``)."""
        print_explanation(self, batch_size=batch_size, print_fn=print_fn)


def check_input_against(model_name, kt: KerasTensor, x):
    shape = tuple(x.shape)
    want = kt.shape
    if len(shape) != len(want) or any(w is not None and w != s for w, s in zip(want[1:], shape[1:])):
        raise ValueError(
            f"Model '{model_name}' expected input of shape {want}, but got input of shape {shape}."
        )


register_built_in(Model, "Functional")
register_built_in(Model, "Model")
