"""Turning ``x, y`` arrays (or a batch iterable) into training batches.

Besides arrays, ``fit``/``evaluate``/``predict`` take what Keras takes as a
stream of batches (``batch_source``): an object with ``__len__`` and
``__getitem__`` (Keras' ``PyDataset``, ``minicnn.utils.PyDataset``: batch i is
``ds[i]``, ``on_epoch_end()`` after each pass, ``workers`` threads loading
ahead through a bounded queue), a generator or iterator (``steps_per_epoch``
batches per epoch, or until it runs out), or an iterable with a length (such as
``image_dataset_from_directory``'s result). Each batch is ``(x, y)`` or ``(x,)``.
Anything else is a TypeError that says what is accepted, never a hang.

``x`` is one array, or, for a model with several inputs, a list or tuple of
arrays (one per input, in the order of ``Model(inputs=[...])``) or a dict by
input name, as in Keras; ``arrange_inputs`` turns the dict into that list.
Every input must have the same number of samples.
"""
from __future__ import annotations

import math
import numbers
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..random import generator
from .outputs import is_per_output


def num_samples(x) -> int:
    if isinstance(x, (list, tuple)):
        return len(x[0])
    return len(x)


def take(x, index):
    """Samples ``index`` of an array, or of each array of a list (None, an output's missing target, stays)."""
    if isinstance(x, (list, tuple)):
        return [None if a is None else a[index] for a in x]
    return x[index]


class ArrayBatches:
    """Batches of (x, y), or (x, y, sample_weight) when weights are given, from
    in-memory arrays, reshuffled every epoch if asked."""

    def __init__(self, x, y=None, batch_size=32, shuffle=False, sample_weight=None):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.n = num_samples(x)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        order = generator().permutation(self.n) if self.shuffle else None
        for start in range(0, self.n, self.batch_size):
            idx = (order[start:start + self.batch_size] if order is not None
                   else slice(start, start + self.batch_size))
            batch = take(self.x, idx), (None if self.y is None else take(self.y, idx))
            yield batch if self.sample_weight is None else (*batch, take(self.sample_weight, idx))


def batch_size_or_default(batch_size, who: str) -> int:
    """``batch_size`` checked to be a positive integer, or Keras' default 32 for None."""
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"{who}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def validate_arrays(x, y, who: str, output_names=None):
    """Clear errors for the most common data mistakes, before any computing. With
    ``output_names`` (several outputs) ``y`` is their list of targets, each checked."""
    if x is None:
        raise ValueError(f"{who}: x is required")
    for a in (x if isinstance(x, (list, tuple)) else [x]):
        if getattr(a, "ndim", 1) == 0:
            raise ValueError(f"{who}: x must be an array with a batch axis (samples first), got a scalar {a!r}")
    n = num_samples(x)
    if isinstance(x, (list, tuple)):
        for i, a in enumerate(x[1:], start=1):
            if len(a) != n:
                raise ValueError(f"{who}: every input must have the same number of samples, got input 0 with "
                                 f"{n} and input {i} with {len(a)}.")
    for name, target in (zip(output_names, y) if output_names else [(None, y)]):
        what = "y" if name is None else f"the target of output {name!r}"
        if target is not None and getattr(target, "dtype", np.dtype(float)).kind in "USO":
            raise ValueError(f"{who}: {what} must hold numbers, got {target.dtype} values such as "
                             f"{target.flat[0]!r}; map class names to integers first, e.g. "
                             "names, y = np.unique(labels, return_inverse=True)")
        if target is not None and len(target) != n:
            got = "y" if name is None else repr(name)
            raise ValueError(f"{who}: x and {what} must have the same number of samples, got x with {n} and "
                             f"{got} with {len(target)}.")
    if n == 0:
        raise ValueError(f"{who}: x is empty")


def as_array(a):
    """Lists of numbers become arrays; arrays (NumPy/CuPy) and batch sources pass
    through; a list or tuple of arrays (several inputs) becomes a list of arrays."""
    if a is None or hasattr(a, "shape"):
        return a
    if isinstance(a, (list, tuple)) and a and all(hasattr(item, "shape") for item in a):
        return list(a)
    return np.asarray(a)


def checked_arrays(x, y, inputs, who: str, outputs=None):
    """``(x, y)`` as arrays, a dict of inputs arranged as a list (``arrange_inputs``),
    checked (``validate_arrays``): what fit, evaluate and predict do with array data.
    ``outputs`` (a model with several outputs: ``outputs.OutputLosses``) arranges
    ``y`` as the list of one target per output."""
    x = as_array(arrange_inputs(x, inputs, who))
    if outputs is None and isinstance(y, dict):
        raise ValueError(f"{who}: y is a dict of targets {sorted(y, key=str)}, but the model was compiled for one "
                         "output; a model whose outputs are named (a dict, or several) takes a dict of losses by "
                         "those names in compile()")
    if outputs is None or y is None:
        y = as_array(y)
        validate_arrays(x, y, who)
        return x, y
    y = [None if t is None else as_array(t) for t in outputs.targets(y, who)]
    validate_arrays(x, y, who, outputs.names)
    return x, y


def arrange_inputs(x, inputs, who: str):
    """A dict of arrays by input name as the list ``Model.call`` takes, in the
    order of the model's inputs (``inputs``: their KerasTensors); anything else as
    it is, once a list or tuple of arrays is checked to hold one per input."""
    if isinstance(x, (list, tuple)) and x and all(hasattr(a, "shape") for a in x) and inputs:
        if len(x) != len(inputs):
            kind = type(x).__name__
            raise ValueError(
                f"{who}: the model has {len(inputs)} input(s) {[tuple(t.shape) for t in inputs]} but got a {kind} "
                f"of {len(x)} arrays with shapes {[tuple(a.shape) for a in x]}; pass one array per input "
                f"(x alone for a single-input model, with the targets as y)")
        return x[0] if len(x) == 1 else x  # [x] for a single-input model is x, as in Keras
    if not isinstance(x, dict):
        return x
    if not inputs:
        raise ValueError(f"{who}: a dict of inputs needs a model built from named Input()s")
    names = [t.name for t in inputs]
    missing, extra = [n for n in names if n not in x], sorted(set(x) - set(names))
    if missing or extra:
        raise ValueError(f"{who}: the dict's keys must be the model's input names {names}; "
                         f"missing {missing}, unexpected {extra}")
    return [x[n] for n in names]


class IndexedBatches:
    """Batches ``ds[0] .. ds[len(ds) - 1]`` of a ``PyDataset``-like object, then
    its ``on_epoch_end()``. With ``ds.workers`` > 1, that many threads load the
    next batches while the current one trains, at most ``ds.max_queue_size`` ahead."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __iter__(self):
        n, workers = len(self.ds), int(getattr(self.ds, "workers", 1) or 1)
        if workers <= 1:
            for i in range(n):
                yield batch_tuple(self.ds[i], "a PyDataset")
        else:
            ahead = max(1, int(getattr(self.ds, "max_queue_size", 10) or 1))
            with ThreadPoolExecutor(workers, thread_name_prefix="minicnn-data") as pool:
                pending = [pool.submit(self.ds.__getitem__, i) for i in range(min(ahead, n))]
                for i in range(n):
                    batch = pending[i].result()
                    if i + ahead < n:
                        pending.append(pool.submit(self.ds.__getitem__, i + ahead))
                    pending[i] = None
                    yield batch_tuple(batch, "a PyDataset")
        on_epoch_end = getattr(self.ds, "on_epoch_end", None)
        if callable(on_epoch_end):
            on_epoch_end()


class StreamBatches:
    """Batches drawn from a generator or iterator: ``steps`` per epoch (the same
    stream continues in the next epoch, as Keras does), or all it has when
    ``steps`` is None."""

    def __init__(self, stream, steps=None):
        self.stream, self.steps = stream, steps

    def __iter__(self):
        taken = 0
        while self.steps is None or taken < self.steps:
            try:
                batch = next(self.stream)
            except StopIteration:
                return
            taken += 1
            yield batch_tuple(batch, "a generator")


def batch_tuple(batch, where: str):
    """One batch of a stream as ``(x, y)`` or ``(x, y, sample_weight)``; ``(x,)`` has y None."""
    if isinstance(batch, tuple) and len(batch) in (2, 3):
        return batch
    if isinstance(batch, tuple) and len(batch) == 1:
        return (batch[0], None)
    raise TypeError(f"each batch of {where} must be a tuple (x, y), (x, y, sample_weight) or (x,), "
                    f"got {type(batch).__name__}")


def unpack_x_y_sample_weight(data):
    """One batch as ``(x, y, sample_weight)``: a tuple ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)`` fills what it has (Keras' ``unpack_x_y_sample_weight``);
    anything else is x alone. (Keras also reads a list as that tuple; here a list
    stays x, the inputs of a multi-input model.)"""
    if not isinstance(data, tuple):
        return data, None, None
    if not 1 <= len(data) <= 3:
        raise ValueError(f"a batch is (x,), (x, y) or (x, y, sample_weight), got a tuple of {len(data)} items")
    return (*data, *(None,) * (3 - len(data)))


def sample_weights(y, sample_weight, class_weight, n: int, who: str, outputs=None):
    """One weight per sample from ``sample_weight`` or ``class_weight`` ({class: weight};
    the class of a one-hot target is its argmax); None if neither. Both at once is an
    error, as in Keras. A model with several outputs (``outputs``: its
    ``OutputLosses``) may take one array per output: then a list of them (None
    where an output is unweighted)."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError(f"{who}: give sample_weight or class_weight, not both (as Keras); "
                         "fold the class weights into sample_weight to combine them")
    if is_per_output(sample_weight):
        if outputs is None:
            raise ValueError(f"{who}: sample_weight per output (a list of arrays or a dict) needs a model with "
                             "several outputs; give one array, one weight per sample")
        return [None if w is None else _one_per_sample(w, n, f"{who}: sample_weight of output '{name}'")
                for w, name in zip(outputs.sample_weights(sample_weight, who), outputs.names)]
    weights = None
    if sample_weight is not None:
        weights = _one_per_sample(sample_weight, n, f"{who}: sample_weight")
    if class_weight is not None:
        labels = np.asarray(y)
        labels = labels.argmax(axis=-1) if labels.ndim > 1 and labels.shape[-1] > 1 else labels.reshape(n)
        missing = sorted(set(np.unique(labels).tolist()) - set(class_weight))
        if missing:
            raise ValueError(f"{who}: class_weight has no weight for class(es) {missing}")
        weights = np.array([class_weight[int(c)] for c in labels], dtype=np.float64)
    return weights


def _one_per_sample(weights, n: int, what: str) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n,):
        raise ValueError(f"{what} must have one weight per sample, shape ({n},), got {weights.shape}")
    return weights


def batch_source(x, steps_per_epoch=None):
    """The batches of ``x`` if it is a stream of batches (see the module
    docstring), or None if it is array data."""
    if x is None or hasattr(x, "shape") or isinstance(x, (list, tuple, dict, str, bytes, numbers.Number)):
        return None
    if hasattr(x, "__getitem__") and hasattr(x, "__len__"):
        return IndexedBatches(x)
    if hasattr(x, "__next__"):
        return StreamBatches(x, steps_per_epoch)
    if hasattr(x, "__iter__") and hasattr(x, "__len__"):
        return x
    raise TypeError(f"x must be an array, a list/tuple/dict of arrays, a PyDataset (__len__ and __getitem__), "
                    f"a generator of (x, y) batches or an iterable of batches with a length; "
                    f"got {type(x).__name__}")
