"""``Layer``: the unit models are made of (Keras' ``keras.layers.Layer``).

A layer owns weights (``add_weight`` in ``build``), computes ``call(inputs)``
and knows its output shape. Its life:

1. ``__init__`` stores the configuration (e.g. 32 filters, 3x3 kernel).
2. The first call sees the input shape and runs ``build(input_shape)``, which
   creates the weights (a Conv2D needs the input channel count for its kernel).
3. Every call checks the input against what the layer was built for, then runs
   ``call``. Given real data (arrays/Tensors) it computes; given symbolic
   ``KerasTensor``s (the functional API) it only records a graph node.

Layers assigned as attributes of another layer are tracked, so a custom layer
or subclassed model finds its sublayers' weights, and ``trainable = False``
freezes the whole tree.
"""
from __future__ import annotations

import collections
import contextlib
import functools
import inspect
import re
import threading

import numpy as np

from .. import backend, constraints, initializers, regularizers
from ..autograd import Tensor, Variable, no_grad
from .symbolic import KerasTensor, Node, is_symbolic, map_structure

_name_counts: collections.Counter = collections.Counter()
_context = threading.local()


def to_snake_case(name: str) -> str:
    """'MaxPooling2D' -> 'max_pooling2d' (Keras' default layer names)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """'conv2d', then 'conv2d_1', 'conv2d_2', ... within this process."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def in_training() -> bool:
    """The training flag of the enclosing call (False outside ``fit``)."""
    return getattr(_context, "training", False)


@contextlib.contextmanager
def training_scope(training: bool):
    old = in_training()
    _context.training = bool(training)
    try:
        yield
    finally:
        _context.training = old


class InputSpec:
    """What a layer accepts: an exact rank, a minimum rank, fixed axis sizes."""

    def __init__(self, ndim=None, min_ndim=None, axes=None):
        self.ndim, self.min_ndim, self.axes = ndim, min_ndim, dict(axes or {})

    def describe(self) -> str:
        rank = self.ndim or self.min_ndim or 0
        shape = ["None"] * rank
        for axis, size in self.axes.items():
            if rank:
                shape[axis] = str(size)
        text = "(" + ", ".join(shape) + ")" if rank else "any shape"
        if self.ndim is None and self.min_ndim:
            text += f" or more dimensions (rank >= {self.min_ndim})"
        return text

    def accepts(self, shape) -> bool:
        if self.ndim is not None and len(shape) != self.ndim:
            return False
        if self.min_ndim is not None and len(shape) < self.min_ndim:
            return False
        return all(shape[axis] in (None, size) for axis, size in self.axes.items()
                   if -len(shape) <= axis < len(shape))


class Layer:
    """Base class of all layers; subclass it for custom layers (build/call).

    Three class attributes declare what a kind of layer is, so that code
    elsewhere asks the layer instead of matching class names:

    * ``kind``: what the layer computes, in one word: "conv", "depthwise_conv",
      "separable_conv", "conv_transpose", "max_pool", "average_pool", "global_pool", "dense",
      "flatten", "zero_padding", "batch_norm", "add", "input"; ``None`` (the default,
      and custom layers) otherwise. ``explain()`` picks its worked formula by it
      (``models/explain.py``), and a graph finds what it can fuse by it
      (``models/fusion.py``).
    * ``draws_host_random_numbers``: True for a layer that draws random numbers
      on the host (NumPy) while training — the Random* augmentations (Dropout
      and GaussianNoise compute theirs on the GPU).
      A CUDA graph replays a step without running Python, so it cannot capture
      such a layer (``models/gpu/graph.py``).
    * ``fusable_after_conv_relu``: True for a layer that a Conv2D(activation='relu')
      just before it can run within its own Function (MaxPooling2D, see
      ``Conv2D.fuses_with``). A subclass that overrides ``call`` computes
      something else, so it does not inherit a True here.
    """

    kind: str | None = None
    draws_host_random_numbers = False
    fusable_after_conv_relu = False

    def __init_subclass__(cls, **kwargs):
        """Make every ``build`` mark the layer built, as Keras does: calling
        ``layer.build(shape)`` yourself and then the layer must not build twice.
        And a new ``call`` drops an inherited ``fusable_after_conv_relu`` (the
        fused Function would skip it)."""
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            cls.build = _marks_built(build)
        if "call" in cls.__dict__ and "fusable_after_conv_relu" not in cls.__dict__:
            cls.fusable_after_conv_relu = False

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None,
                 batch_size=None, input_dim=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s): {sorted(kwargs)}")
        object.__setattr__(self, "_tracked", [])
        self._own_weights: list[Variable] = []
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        # fixed when the layer is made, as in Keras: set_floatx later does not change it
        self._dtype = np.dtype(dtype).name if dtype is not None else backend.floatx()
        self.built = False
        self.input_spec: InputSpec | None = None
        self._input_shape = None
        self._output_shape = None
        self._inbound_nodes: list[Node] = []
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._declared_input_shape = (batch_size, *input_shape) if input_shape is not None else None
        self._call_takes_training = "training" in inspect.signature(self.call).parameters

    # -- sublayer tracking ---------------------------------------------------------
    def __setattr__(self, name, value):
        if not name.startswith("_"):
            candidates = value if isinstance(value, (list, tuple)) else [value]
            for item in candidates:
                if isinstance(item, Layer) and item is not self and all(item is not t for t in self._tracked):
                    self._tracked.append(item)
        object.__setattr__(self, name, value)

    @property
    def dtype(self) -> str:
        return self._dtype

    # -- weights -------------------------------------------------------------------
    def add_weight(self, shape=None, initializer="glorot_uniform", dtype=None, trainable=True,
                   name=None, regularizer=None, constraint=None):
        """Create a weight, initialise it and register it with this layer."""
        shape = tuple(int(s) for s in (shape or ()))
        value = initializers.get(initializer)(shape, dtype=dtype or self.dtype)
        var = Variable(value, name=name or f"variable_{len(self._own_weights)}", trainable=trainable)
        var.trainable = trainable and self._trainable
        var.regularizer = regularizers.get(regularizer)
        var.constraint = constraints.get(constraint)  # applied after each optimizer step (Optimizer.apply)
        self._own_weights.append(var)
        return var

    @property
    def weights(self) -> list[Variable]:
        """All weights, own ones first, then each sublayer's, in creation order."""
        seen, out = set(), []
        for w in self._own_weights + [w for layer in self._tracked for w in layer.weights]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if not w.trainable]

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (False) or unfreeze (True) this layer and everything inside it."""
        self._trainable = bool(value)
        for w in self._own_weights:
            w.trainable = value
        for layer in self._tracked:
            layer.trainable = value

    def get_weights(self) -> list[np.ndarray]:
        """Weight values as NumPy arrays, in Keras' order."""
        return [w.numpy().copy() for w in self.weights]

    def set_weights(self, values) -> None:
        """Load values (e.g. from a Keras layer); checks everything before changing anything."""
        weights = self.weights
        values = list(values)
        if len(values) != len(weights):
            raise ValueError(
                f"Layer '{self.name}' has {len(weights)} weights "
                f"({[f'{w.name}{tuple(w.shape)}' for w in weights]}) but {len(values)} values were given."
            )
        for w, v in zip(weights, values):
            if tuple(np.shape(v)) != tuple(w.shape):
                raise ValueError(
                    f"Layer '{self.name}': weight '{w.name}' has shape {tuple(w.shape)}, "
                    f"but the value given has shape {tuple(np.shape(v))}. Nothing was changed."
                )
        for w, v in zip(weights, values):
            w.assign(backend.to_numpy(v) if not isinstance(v, np.ndarray) else v)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"Layer '{self.name}' is not built yet, so its weights do not exist. Call it on data, "
                "give the model an Input/input_shape, or call build(input_shape) first."
            )
        return int(sum(w.size for w in self.weights))

    @property
    def losses(self) -> list:
        """Regularisation penalties of this layer's trainable weights (Tensors)."""
        out = []
        for w in self.weights:
            if getattr(w, "regularizer", None) is not None and w.trainable:
                out.append(w.regularizer(w))
        return out

    # -- shapes ----------------------------------------------------------------
    @property
    def input_shape(self):
        return self._input_shape

    @property
    def output_shape(self):
        if self._output_shape is None:
            raise AttributeError(f"Layer '{self.name}' has not been called yet, so it has no output shape.")
        return self._output_shape

    @property
    def output(self):
        """The symbolic output of this layer's first call in a functional graph (as in
        Keras): ``Model(base.input, base.get_layer("block_11").output)`` cuts a network."""
        if getattr(self, "_output_tensor", None) is not None:
            return self._output_tensor
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' has not been called on a symbolic input, so it has no output.")
        return self._inbound_nodes[0].outputs

    @output.setter
    def output(self, value):
        self._output_tensor = value

    @property
    def input(self):
        """The symbolic input of this layer's first call in a functional graph."""
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' has not been called on a symbolic input, so it has no input.")
        return self._inbound_nodes[0].inputs

    def build(self, input_shape) -> None:
        """Create weights for ``input_shape``; the default creates none."""

    def compute_output_shape(self, input_shape):
        """Output shape for an input shape. The default runs the layer on zeros
        (once per input shape: ``Sequential.add`` re-traces every layer it holds)."""
        cache = self.__dict__.setdefault("_output_shape_cache", {})
        key = repr(input_shape)
        if key not in cache:
            cache[key] = self._traced_output_shape(input_shape)
        return cache[key]

    def _traced_output_shape(self, input_shape):
        def dummy(shape):
            if any(s is None for s in shape[1:]):
                raise ValueError(f"Layer '{self.name}' needs known non-batch sizes, got {shape}")
            return np.zeros((1, *shape[1:]), dtype=self.dtype)

        with no_grad():
            out = self(map_shapes(dummy, input_shape), training=False)
        return map_structure(lambda t: (None, *t.shape[1:]), out)

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    def fuses_with(self, next_layer) -> bool:
        """Whether this layer and ``next_layer``, which follows it in a Sequential,
        can run as one Function (a speed-up only: the result is the same). No by
        default; Conv2D(relu) followed by MaxPooling2D says yes."""
        return False

    def fused_groups(self) -> list:
        """The groups of this layer's sublayers that run as one Function, each as
        ``(layers, where)`` (``where``: the file that fuses them). None here; a
        ``Sequential`` and a functional ``Model`` find their own."""
        return []

    def as_relu(self) -> tuple[bool, float | None]:
        """``(True, max_value)`` if this layer computes exactly ReLU (capped at
        ``max_value``, or not: None), else ``(False, None)``. A graph fuses such
        a layer into the convolution before it (``models/fusion.py``)."""
        return False, None

    # -- calling ---------------------------------------------------------------
    def _ensure_built(self, shapes) -> None:
        if not self.built:
            self.build(shapes)
            self.built = True
        if self._input_shape is None:
            self._input_shape = map_shapes(lambda s: (None, *s[1:]), shapes)

    def _check_input(self, shapes) -> None:
        spec = self.input_spec
        if spec is None or isinstance(shapes, list):
            return
        if not spec.accepts(shapes):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expected input of shape "
                f"{spec.describe()}, but got input of shape {tuple(shapes)}."
            )

    def _to_tensor(self, x):
        """Raw data (NumPy/CuPy arrays, lists) becomes a Tensor on the current
        device in this layer's dtype; uint8 images become floats here."""
        if isinstance(x, Tensor):
            return x
        return Tensor(backend.to_device(x, dtype=self.dtype))

    def __call__(self, inputs, *args, training=None, **kwargs):
        if is_symbolic(inputs):
            return self._symbolic_call(inputs, training, args, kwargs)
        inputs = map_structure(self._to_tensor, inputs)
        shapes = map_structure(lambda t: tuple(t.shape), inputs)
        if self.input_spec is not None:
            self._check_input(shapes)
        self._ensure_built(shapes)
        self._check_input(shapes)
        if training is None:
            training = in_training()
        with training_scope(training):
            if self._call_takes_training:
                kwargs["training"] = training
            outputs = self.call(inputs, *args, **kwargs)
        if self._output_shape is None:
            self._output_shape = map_structure(lambda t: (None, *t.shape[1:]), outputs)
        return outputs

    def _symbolic_call(self, inputs, training, args, kwargs):
        shapes = map_structure(lambda t: t.shape, inputs)
        if self.input_spec is not None:
            self._check_input(shapes)
        self._ensure_built(shapes)
        self._check_input(shapes)
        out_shapes = self.compute_output_shape(shapes)
        if training is not None:
            kwargs = dict(kwargs, training=training)
        node = Node(self, inputs, None, dict(kwargs, _args=args))
        if isinstance(out_shapes, list):
            outputs = [KerasTensor(s, self.dtype, node, i) for i, s in enumerate(out_shapes)]
        else:
            outputs = KerasTensor(out_shapes, self.dtype, node, 0)
        node.outputs = outputs
        self._inbound_nodes.append(node)
        if self._output_shape is None:
            self._output_shape = out_shapes
        return outputs

    # -- description ---------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor's arguments, so that ``type(layer).from_config(layer.get_config())``
        makes the same layer (new weights). A custom layer adds its own arguments to these."""
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def weight_arguments(self, *names) -> dict:
        """``get_config``'s entries for the arguments that shape weights: initializers,
        regularizers and constraints (built-in ones as Keras' dicts), by argument name."""
        kinds = {"_initializer": initializers, "_regularizer": regularizers, "_constraint": constraints}
        return {n: kinds[n[n.rindex("_"):]].serialize(getattr(self, n)) for n in names}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _marks_built(build):
    @functools.wraps(build)
    def wrapper(self, *args, **kwargs):
        result = build(self, *args, **kwargs)
        self.built = True
        return result

    wrapper._marks_built = True
    return wrapper


def map_shapes(fn, shapes):
    """Apply ``fn`` to a shape tuple, or to each shape of a list of shapes."""
    if isinstance(shapes, list):
        return [fn(tuple(s)) for s in shapes]
    return fn(tuple(shapes))
