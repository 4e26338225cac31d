"""A model with several outputs: a loss, a loss weight and metrics for each output, as Keras compiles them.

For a functional model ``Model(x, [cls, reg])`` whose output layers are named
'cls' and 'reg', ``compile`` takes

* ``loss``: one loss for every output, a list with one per output (in the
  order of ``Model(outputs=[...])``) or a dict by output name; ``None`` for an
  output that is not trained on a target;
* ``loss_weights``: a list or dict of numbers, one per output (1.0 without);
* ``metrics``: a list with one entry per output or a dict by output name (an
  output may be left out); an entry is a metric or a list of metrics.
  'accuracy' means what the output's own loss makes it mean.

* ``weighted_metrics``: as ``metrics``, counted with the sample weights.

``fit``/``evaluate`` take the targets as a list in output order or a dict by
output name, and ``sample_weight`` as one array (one weight per sample, for
every output's loss) or one per output, a list or a dict by output name (an
output left out is unweighted). What ``backward()`` starts from is Σ wᵢ·lossᵢ
plus the layers' own losses. The logs use Keras' names: 'loss' for that total,
'{output}_loss' for each output's unweighted loss (when more than one output
has one) and '{output}_{metric}' for each metric, e.g. 'cls_accuracy',
'reg_mae'; a weighted metric whose name is taken is '{output}_weighted_{metric}'.

A single-output model never comes here: its loss is one ``Loss`` and its
metrics keep their own names (``training.py``), the path the GPU's captured
step replays.
"""
from __future__ import annotations

import copy
import numbers

import numpy as np

from .. import losses
from ..autograd import Tensor
from ..backend import get_array_module
from ..metrics import Mean
from ..metrics import get as get_metric


class OutputLosses:
    """``compile``'s losses, loss weights and metrics for the named outputs of one model.

    ``losses`` and ``weights`` hold one entry per output (a ``Loss`` or None,
    a float); ``trackers`` the running mean of each output's loss (kept only
    when two or more outputs have a loss, as Keras); ``metrics`` the
    ``(output index, metric)`` pairs, each metric the model's own object named
    '{output}_{name}' (a metric object given to ``compile`` is copied, so its
    name stays its own); ``weighted`` the same for ``weighted_metrics``.
    ``trackers`` and the metrics are in ``model.metrics``: reset every epoch
    and kept by mid-epoch checkpoints.
    """

    @classmethod
    def for_model(cls, model, loss, loss_weights, metrics, weighted_metrics):
        """The compiled outputs of ``model`` if it has several or returns a dict (None otherwise).
        A subclassed model has no symbolic outputs: a dict of losses names what its
        ``call`` returns (a dict with those keys), as in Keras."""
        dict_keys = getattr(model, "_output_dict", None)
        if model.outputs:
            names = model._output_keys
            if len(names) < 2 and dict_keys is None:
                return None
        elif isinstance(loss, dict) and loss:
            names = dict_keys = list(loss)
        else:
            return None
        # Keras lists a dict model's output losses in the order of the dict of losses, else of the outputs
        loss_order = None if dict_keys is None else list(loss) if isinstance(loss, dict) else list(dict_keys)
        return cls(model.name, names, loss, loss_weights, metrics, weighted_metrics, loss_order)

    def __init__(self, model_name, names, loss, loss_weights=None, metrics=None, weighted_metrics=None,
                 loss_order=None):
        self.model_name, self.names = model_name, list(names)
        if isinstance(loss, (list, tuple, dict)):
            given = self._per_output(loss, "loss")
        else:
            given = [loss] * len(self.names)
        self.losses = [None if entry is None else losses.get(entry) for entry in given]
        if all(entry is None for entry in self.losses):
            raise ValueError(f"compile(): model '{model_name}' has no loss for any of its outputs {self.names}; "
                             "give at least one")
        self.weights = [1.0] * len(self.names) if loss_weights is None else [
            self._number(w, name) for w, name in zip(self._per_output(loss_weights, "loss_weights"), self.names)]
        trained = [i for i, entry in enumerate(self.losses) if entry is not None]
        if loss_order is not None:
            trained.sort(key=lambda i: loss_order.index(self.names[i]))  # the same names (checked above)
        self.trackers = [Mean(f"{self.names[i]}_loss") for i in trained] if len(trained) > 1 else []
        self._tracker_of = dict(zip(trained, self.trackers))
        self._taken = {}  # metric name -> how often given, for Keras' _1, _2 suffixes
        self.metrics = self._metrics(metrics, "metrics")
        self.weighted = self._metrics(weighted_metrics, "weighted_metrics")

    # -- compile --------------------------------------------------------------------------
    def _per_output(self, given, what) -> list:
        """One entry per output from a list/tuple (in output order) or a dict by output name."""
        n, names = len(self.names), self.names
        if isinstance(given, dict):
            missing, extra = [k for k in names if k not in given], sorted(set(given) - set(names), key=str)
            if missing or extra:
                raise ValueError(f"compile(): {what}'s keys must be the output names {names} of model "
                                 f"'{self.model_name}'; missing {missing}, unexpected {extra}")
            return [given[k] for k in names]
        if isinstance(given, (list, tuple)) and len(given) == n:
            return list(given)
        got = (f"a {type(given).__name__} of {len(given)}" if isinstance(given, (list, tuple))
               else f"{given!r}")
        raise ValueError(f"compile(): model '{self.model_name}' has {n} outputs {names}, so {what} must be a "
                         f"list of {n} (one per output, in that order) or a dict by output name; got {got}")

    def _number(self, weight, name) -> float:
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise ValueError(f"compile(): the loss weight of output '{name}' must be a number, got {weight!r}")
        return float(weight)

    def _metrics(self, given, what) -> list:
        """The (output index, metric) pairs, named as Keras names them: a repeated name
        gains _1, _2...; a weighted metric whose name a plain one has is '{output}_weighted_{name}'."""
        if not given:
            return []
        if isinstance(given, dict):
            unknown = sorted(set(given) - set(self.names), key=str)
            if unknown:
                raise ValueError(f"compile(): {what}' keys must be output names of model '{self.model_name}' "
                                 f"{self.names}; unexpected {unknown}")
            per_output = [given.get(name) for name in self.names]
        elif isinstance(given, (list, tuple)) and len(given) == len(self.names):
            per_output = list(given)
        else:
            raise ValueError(
                f"compile(): model '{self.model_name}' has {len(self.names)} outputs {self.names}, so {what} "
                f"must be a list with one entry per output (a metric, a list of metrics or None), e.g. "
                f"{[['accuracy']] + [[] for _ in self.names[1:]]}, or a dict by output name, e.g. "
                f"{{{self.names[0]!r}: ['accuracy']}}; got {given!r}")
        pairs, seen = [], self._taken
        for i, entry in enumerate(per_output):
            for identifier in ([] if entry is None else entry if isinstance(entry, (list, tuple)) else [entry]):
                metric = get_metric(identifier, self.losses[i])
                if metric is identifier:  # the user's object: the model counts into its own copy
                    metric = copy.copy(metric)
                    metric.reset_state()
                prefix = f"{self.names[i]}_" if len(self.names) > 1 else ""  # one output: plain names
                name = f"{prefix}{metric.name}"
                if what == "weighted_metrics" and name in seen:
                    name = f"{prefix}weighted_{metric.name}"
                seen[name] = seen.get(name, 0) + 1
                metric.name = name if seen[name] == 1 else f"{name}_{seen[name] - 1}"
                pairs.append((i, metric))
        return pairs

    # -- one batch ------------------------------------------------------------------------
    def targets(self, y, who="a batch") -> list:
        """``y`` as a list in output order: from a list/tuple with one target per output
        or a dict by output name. An output without loss and metrics may have None."""
        n, names = len(self.names), self.names
        if n == 1 and not isinstance(y, (list, tuple, dict)):
            return [y]  # a dict model with one output takes its target alone too, as Keras
        if isinstance(y, dict):
            extra = sorted(set(y) - set(names), key=str)
            missing = [k for i, k in enumerate(names) if y.get(k) is None and self._needs_target(i)]
            if missing or extra:
                raise ValueError(f"{who}: the targets' keys must be the output names {names} of model "
                                 f"'{self.model_name}'; missing {missing}, unexpected {extra}")
            return [y.get(k) for k in names]
        if isinstance(y, (list, tuple)) and len(y) == n:
            missing = [k for i, k in enumerate(names) if y[i] is None and self._needs_target(i)]
            if missing:
                raise ValueError(f"{who}: the target of output(s) {missing} of model '{self.model_name}' is None")
            return list(y)
        got = (f"a {type(y).__name__} of {len(y)}" if isinstance(y, (list, tuple))
               else f"an array of shape {tuple(y.shape)}" if hasattr(y, "shape") else f"{type(y).__name__}")
        raise ValueError(f"{who}: model '{self.model_name}' has {n} outputs {names}, so y must be a list of {n} "
                         f"target arrays (one per output, in that order) or a dict by output name; got {got}")

    def _needs_target(self, i) -> bool:
        return self.losses[i] is not None or any(j == i for j, _ in self.metrics + self.weighted)

    def sample_weights(self, sample_weight, who="a batch") -> list:
        """One weight array (or None) per output: one array weights every output, as
        in Keras; a list in output order or a dict by output name weights each its own."""
        n, names = len(self.names), self.names
        if sample_weight is None:
            return [None] * n
        if isinstance(sample_weight, dict):
            extra = sorted(set(sample_weight) - set(names), key=str)
            if extra:
                raise ValueError(f"{who}: sample_weight's keys must be output names {names} of model "
                                 f"'{self.model_name}'; unexpected {extra}")
            return [sample_weight.get(k) for k in names]
        if is_per_output(sample_weight):
            if len(sample_weight) != n:
                raise ValueError(f"{who}: model '{self.model_name}' has {n} outputs {names}, so a list of "
                                 f"sample weights must hold {n} (one per output, or None), got {len(sample_weight)}")
            return list(sample_weight)
        return [sample_weight] * n

    def __call__(self, y, pred, sample_weight=None):
        """Σ wᵢ·lossᵢ over the outputs with a loss; each unweighted lossᵢ is added to its
        tracker (weighted by the batch size, as Keras). A loss's error names its output."""
        y, weights, pred = self.targets(y), self.sample_weights(sample_weight), self.as_list(pred)
        total = None
        for i, loss in enumerate(self.losses):
            if loss is None:
                continue
            try:
                value = loss(y[i], pred[i]) if weights[i] is None else loss(y[i], pred[i], weights[i])
            except ValueError as exc:
                raise ValueError(f"output '{self.names[i]}' of model '{self.model_name}': {exc}") from None
            tracker = self._tracker_of.get(i)
            if tracker is not None:
                tracker.update_state(value.data, pred[i].shape[0])
            term = value * self.weights[i]
            total = term if total is None else total + term
        return total

    def update_metrics(self, y, pred, sample_weight=None) -> None:
        """Add one batch to every output's metrics (unweighted, as Keras' ``metrics``) and
        weighted metrics (by that output's sample weights)."""
        y, weights = self.targets(y), self.sample_weights(sample_weight)
        pred = [p.data if isinstance(p, Tensor) else p for p in self.as_list(pred)]
        for i, metric in self.metrics:
            metric.update_state(y[i], pred[i])
        for i, metric in self.weighted:
            metric.update_state(y[i], pred[i], weights[i])

    def as_list(self, pred) -> list:
        """The model's outputs in output order (a dict model returns them by key)."""
        if isinstance(pred, dict):
            missing = [k for k in self.names if k not in pred]
            if missing:
                raise ValueError(f"model '{self.model_name}' returned outputs {sorted(pred, key=str)}, but it was "
                                 f"compiled for outputs {self.names}; missing {missing}")
            return [pred[k] for k in self.names]
        if not isinstance(pred, (list, tuple)) or len(pred) != len(self.names):
            got = f"a list of {len(pred)}" if isinstance(pred, (list, tuple)) else "one output"
            raise ValueError(f"model '{self.model_name}' was compiled for outputs {self.names} (a dict of losses), "
                             f"so its call() must return a dict with those keys; it returned {got}")
        return list(pred)

    def check_labels(self, y, shapes) -> None:
        """Each output's host labels against its loss (``check_labels``), once before training."""
        if isinstance(shapes, dict):  # a subclassed model's dict of outputs
            shapes = [shapes.get(k) for k in self.names]
        for loss, labels, shape, name in zip(self.losses, y, shapes or [None] * len(self.names), self.names):
            check = getattr(loss, "check_labels", None)
            if check is not None and isinstance(labels, np.ndarray) and shape and shape[-1]:
                try:
                    check(labels, shape[-1])
                except ValueError as exc:
                    raise ValueError(f"output '{name}' of model '{self.model_name}': {exc}") from None

    def log_order(self) -> list[str]:
        """The names ``evaluate`` lists first: the total loss, then each output's loss. The
        metrics follow sorted by name, as Keras lists them."""
        return ["loss", *(t.name for t in self.trackers)]


def is_per_output(sample_weight) -> bool:
    """A dict, or a list/tuple of arrays (or None): sample weights given per output,
    where a list of numbers (NumPy scalars too) is one weight per sample."""
    return isinstance(sample_weight, dict) or (
        isinstance(sample_weight, (list, tuple)) and len(sample_weight) > 0
        and all(w is None or len(getattr(w, "shape", ())) > 0 or isinstance(w, (list, tuple)) for w in sample_weight))


def renamed_weighted(weighted_metrics, plain_metrics, loss) -> list:
    """``compile(weighted_metrics=...)`` of a one-output model: Metric objects (copies,
    as a name may change), 'weighted_{name}' where a plain metric has the name, as Keras."""
    taken, out = {m.name for m in plain_metrics}, []
    for m in weighted_metrics or []:
        m = copy.copy(get_metric(m, loss))
        if m.name in taken:
            m.name = f"weighted_{m.name}"
        taken.add(m.name)
        out.append(m)
    return out


def single_output_loss(model_name, output_names, loss, loss_weights):
    """The loss of a one-output model: a list/dict of one is that loss; anything else
    that only makes sense for several outputs is a clear error."""
    many = ("needs a functional model with several outputs (it names them), or a subclassed model whose call() "
            "returns a dict, compiled with losses by its keys")
    has = (f"has one output named {output_names[0]!r}" if output_names
           else "has no named outputs (it is subclassed)")
    if loss_weights is not None:
        raise ValueError(f"compile(): loss_weights {many}; model '{model_name}' {has}: leave loss_weights out "
                         "(scale the loss itself to weigh it against the layers' own losses)")
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        return loss[0]
    if isinstance(loss, dict) and output_names and list(loss) == list(output_names):
        return loss[output_names[0]]
    if isinstance(loss, (list, tuple, dict)):
        raise ValueError(f"compile(): a {type(loss).__name__} of losses {many}; model '{model_name}' {has}: "
                         f"give its loss alone, got {loss!r}")
    return loss


# -- predict ----------------------------------------------------------------------------------
def output_arrays(out):
    """A model's output (a Tensor, or a list or dict of them) as arrays in the same structure."""
    if isinstance(out, dict):
        return {k: v.data if isinstance(v, Tensor) else v for k, v in out.items()}
    if isinstance(out, (list, tuple)):
        return [o.data if isinstance(o, Tensor) else o for o in out]
    return out.data if isinstance(out, Tensor) else out


def joined_batches(batches, finish=None):
    """``predict``'s result: the outputs of each batch (an array, or a list or dict of
    arrays) joined along the batch axis in that structure, each passed through ``finish``.
    Always new arrays: an output may be a view of the input (Flatten, Reshape)."""
    finish = finish or (lambda a: a)

    def join(arrays):
        xp = get_array_module(*arrays)
        return finish(xp.concatenate(arrays, axis=0) if arrays else np.zeros((0,)))

    if batches and isinstance(batches[0], dict):
        return {k: join([b[k] for b in batches]) for k in batches[0]}
    if batches and isinstance(batches[0], list):
        return [join([b[i] for b in batches]) for i in range(len(batches[0]))]
    return join(batches)
