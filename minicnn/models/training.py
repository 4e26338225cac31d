"""The training loop: ``compile``, ``fit``, ``evaluate``, ``predict``.

One training step is the whole story of deep learning in five lines
(``_train_batch``): forward pass in training mode, loss, ``backward()`` to get
every trainable weight's gradient, one optimizer update, metric bookkeeping.
Everything else here is batching, validation, callbacks and progress output.

Keras 3's hooks work as there: a subclass may override ``train_step(self,
data)``, ``test_step(self, data)`` or ``predict_step(self, data)`` (``data``
is ``(x, y)`` or ``(x, y, sample_weight)``; the first two return the logs),
using ``compute_loss`` and ``self.metrics``; ``fit``/``evaluate``/``predict``
then call them for every batch.

A model with several outputs gets a loss (and weight, and metrics) for each
output, and its targets as a list or dict: ``outputs.py``.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import backend, losses, optimizers
from ..autograd import no_grad
from ..callbacks import CallbackList, History
from ..callbacks.monitors import GPU_NAN_CHECK_EVERY
from ..metrics import Mean
from ..metrics import get as get_metric
from ..ops import blas_on_one_thread
from . import weights_file
from .data import (ArrayBatches, batch_size_or_default, batch_source, checked_arrays, num_samples, sample_weights,
                   take, unpack_x_y_sample_weight)
from .gpu import on_device
from .logs import LazyLogs, as_floats, in_keras_order
from .outputs import OutputLosses, joined_batches, output_arrays, renamed_weighted, single_output_loss


class Trainer:
    """Mixed into ``Model``: everything that trains or runs a model on data."""

    def _init_trainer(self):
        self.optimizer = None
        self.loss = None
        self.compiled_metrics = []
        self.weighted_metrics = []
        self.stop_training = False
        self.unfinished_epoch = None
        self.history = None
        self._compiled = False
        self._loss_tracker = Mean("loss")
        self._output_losses = None  # an OutputLosses for a model with several outputs

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                **kwargs):
        """Choose optimizer, loss and metrics (strings or objects); for a model with
        several outputs, a loss, weight and metrics per output (``outputs.py``).
        ``weighted_metrics`` are metrics that ``sample_weight``/``class_weight``
        weight (``metrics`` never are), named 'weighted_{name}' where a plain
        metric has the name already, as in Keras (per output, like ``metrics``,
        for several outputs)."""
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword argument(s): {sorted(kwargs)}")
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='sparse_categorical_crossentropy'")
        heads = OutputLosses.for_model(self, loss, loss_weights, metrics, weighted_metrics)
        if heads is not None:
            self.loss, self.compiled_metrics = heads.losses, [m for _, m in heads.metrics]
            self.weighted_metrics = [m for _, m in heads.weighted]
        else:
            self.loss = losses.get(single_output_loss(self.name, self.output_names if self.outputs else [], loss,
                                                      loss_weights))
            self.compiled_metrics = [get_metric(m, self.loss) for m in (metrics or [])]
            self.weighted_metrics = renamed_weighted(weighted_metrics, self.compiled_metrics, self.loss)
        self.optimizer = optimizers.get(optimizer)
        self._output_losses = heads
        self._compiled = True

    @property
    def metrics(self) -> list:
        """The running means of the epoch in progress: the loss, each output's loss (several
        outputs), then the compiled metrics."""
        if self._output_losses is None:
            return [self._loss_tracker, *self.compiled_metrics, *self.weighted_metrics]
        return [self._loss_tracker, *self._output_losses.trackers, *self.compiled_metrics, *self.weighted_metrics]

    def reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def _require_compiled(self, what):
        if not self._compiled:
            raise RuntimeError(f"You must call compile() on model '{self.name}' before {what}().")

    # -- one step ------------------------------------------------------------------
    def _train_batch(self, x, y, sample_weight=None):
        """Forward, loss, backward, update. Returns the loss Tensor and the predictions."""
        trainable = self.trainable_weights
        for w in trainable:
            w.grad = None
        with blas_on_one_thread():  # the kernels split the batch across the cores
            pred = self(x, training=True)
            loss = self.compute_loss(x, y, pred, sample_weight)
            loss.backward()
            self.optimizer.apply([w.grad for w in trainable], trainable)
        for w in trainable:
            w.grad = None
        return loss, pred

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of ``y_pred`` against ``y``, plus the layers' own
        losses (weight regularizers, ``add_loss``): what ``backward()`` starts from.
        With several outputs, Σ wᵢ·lossᵢ, each lossᵢ added to its tracker (as Keras)."""
        if self._output_losses is not None:
            loss = self._output_losses(y, y_pred, sample_weight)
        elif isinstance(y_pred, dict):
            raise ValueError(f"model '{self.name}' returned a dict of outputs {sorted(y_pred, key=str)} but was "
                             "compiled with one loss: give compile() a dict of losses by those keys")
        elif sample_weight is None:
            loss = self.loss(y, y_pred)
        else:
            loss = self.loss(y, y_pred, sample_weight)
        for penalty in self.losses:
            loss = loss + penalty
        return loss

    def _record(self, loss, y, pred, n, sample_weight=None):
        """Add one batch to the running loss (weighted by its ``n`` samples) and metrics
        (``weighted_metrics`` by ``sample_weight`` too)."""
        self._loss_tracker.update_state(loss.data, n)
        if self._output_losses is not None:
            self._output_losses.update_metrics(y, pred, sample_weight)
            return
        for m in self.compiled_metrics:
            m.update_state(y, pred.data)
        for m in self.weighted_metrics:
            m.update_state(y, pred.data, sample_weight)

    def train_step(self, data):
        """Keras 3's hook: one update on one batch ``data`` ((x, y) or (x, y,
        sample_weight)); returns the logs so far this epoch. Override it to
        change what a step does (``compute_loss``, ``backward()``,
        ``self.optimizer.apply``, ``self.metrics``); ``fit`` then calls yours."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        loss, pred = self._train_batch(x, y, sample_weight)
        self._record(loss, y, pred, num_samples(x), sample_weight)
        return self.get_metrics_result()

    def _test_batch(self, x, y, sample_weight=None):
        """Forward in inference mode, loss, metrics: one batch of ``evaluate``."""
        pred = self(x, training=False)
        self._record(self.compute_loss(x, y, pred, sample_weight, training=False), y, pred, num_samples(x),
                     sample_weight)

    def test_step(self, data):
        """Keras 3's hook for ``evaluate`` (and validation): loss and metrics of one batch, no update."""
        self._test_batch(*unpack_x_y_sample_weight(data))
        return self.get_metrics_result()

    def predict_step(self, data):
        """Keras 3's hook for ``predict``: the model's outputs for one batch."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def get_metrics_result(self) -> dict:
        """{name: value} of the loss and every metric so far (as Keras)."""
        return {m.name: m.result() for m in self.metrics}

    def _overrides(self, hook: str) -> bool:
        """Whether a subclass replaced ``train_step``/``test_step`` (then fit calls it per batch)."""
        return getattr(type(self), hook) is not getattr(Trainer, hook)

    def train_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """One update on one batch, metrics reset first (as Keras); returns the loss (and metrics)."""
        self._require_compiled("train_on_batch")
        x, y = self._checked_arrays(x, y, "train_on_batch")
        self.reset_metrics()
        logs = self.train_step((x, y) if sample_weight is None else (x, y, sample_weight))
        logs = {k: float(v) for k, v in logs.items()}
        return logs if return_dict else self._in_keras_order(logs)

    def _checked_arrays(self, x, y, who):
        """``checked_arrays`` for this model's inputs, and its outputs' targets arranged as a list."""
        return checked_arrays(x, y, self.inputs, who, self._output_losses)

    def _in_keras_order(self, logs):
        """The logs as ``evaluate`` returns them (Keras' order): the loss, each output's loss,
        a single output's metrics in compile order, then every other entry by name (the
        '{output}_{metric}' ones of several outputs); one value alone is a number."""
        heads = self._output_losses
        return in_keras_order(logs, ["loss", *(m.name for m in self.compiled_metrics + self.weighted_metrics)]
                              if heads is None
                              else heads.log_order())

    # -- fit -------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, sample_weight=None, class_weight=None):
        """Train for ``epochs`` epochs; returns a ``History`` (``.history`` dict of lists).

        ``x`` is arrays or a stream of batches (``models/data.py``: a PyDataset,
        a generator with ``steps_per_epoch``, ...). ``sample_weight`` (one per
        sample) and ``class_weight`` ({class: weight}) weight the loss, as in
        Keras (compiled metrics stay unweighted). ``validation_split`` holds
        out the *last* fraction of ``x``/``y`` before shuffling, exactly as
        Keras does (so sort order matters: shuffle first).

        An epoch can end inside its batches without ending as an epoch; then
        ``model.unfinished_epoch`` is ``{"reason", "epoch", "batch"}`` (0-based
        epoch and batch), there is no validation and no callback's
        ``on_epoch_end`` runs, only ``on_train_end``:

        * ``"nan_loss"``: training stopped (the built-in check or
          ``TerminateOnNaN``) on a NaN or infinite loss. Keras would still call
          every ``on_epoch_end``, and so let ``ModelCheckpoint`` and friends
          overwrite good files with the broken weights; minicnn deviates here.
          ``History`` alone records the partial epoch (its loss is NaN), as Keras.
        * ``"interrupted"``: a callback paused the run to resume it later: it
          set ``stop_training`` and ``unfinished_epoch`` itself
          (``io.resume.TrainingCheckpoint`` on Ctrl-C). The epoch ends when the
          resumed run finishes it, so nothing records it twice.
        """
        self._require_compiled("fit")
        if steps_per_epoch is not None and (not isinstance(steps_per_epoch, int) or steps_per_epoch < 1):
            raise ValueError(f"fit: steps_per_epoch must be a positive integer or None, got {steps_per_epoch!r}")
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        if not isinstance(initial_epoch, int) or not 0 <= initial_epoch <= epochs:
            raise ValueError(f"fit: initial_epoch must be between 0 and epochs={epochs}, got {initial_epoch!r} "
                             "(training would run no epoch)")
        train, val = self._prepare_fit_data(x, y, batch_size, validation_split, validation_data, shuffle,
                                            steps_per_epoch, validation_steps, sample_weight, class_weight)
        self.history = History()
        steps = steps_per_epoch if steps_per_epoch is not None else (len(train) if hasattr(train, "__len__") else None)
        cb = CallbackList(list(callbacks or []), self, epochs=epochs, steps=steps,
                          verbose=_verbosity(verbose), history=self.history)
        self.stop_training = False
        self.unfinished_epoch = None
        self._initial_epoch = initial_epoch  # a callback may move it (BackupAndRestore, as Keras)
        cb.on_train_begin()
        for epoch in range(self._initial_epoch, epochs):
            self.reset_metrics()  # before on_epoch_begin, as Keras: a callback may set a resumed epoch's state
            cb.on_epoch_begin(epoch)
            logs = self._run_epoch(train, cb, steps_per_epoch)
            if self.unfinished_epoch is not None:
                if self.unfinished_epoch["reason"] == "nan_loss":
                    self.history.on_epoch_end(epoch, logs)
                break
            if val is not None and not self.stop_training:
                logs.update({f"val_{k}": v for k, v in self._evaluate_batches(val).items()})
            cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cb.on_train_end()
        return self.history

    def _prepare_fit_data(self, x, y, batch_size, validation_split, validation_data, shuffle, steps_per_epoch,
                          validation_steps, sample_weight=None, class_weight=None):
        batch_size = batch_size_or_default(batch_size, "fit")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        train = batch_source(x, steps_per_epoch)
        if train is not None:
            if validation_split:
                raise ValueError("fit: validation_split needs arrays; pass validation_data for a batch source")
            if sample_weight is not None or class_weight is not None:
                raise ValueError("fit: with a stream of batches, give sample weights as (x, y, sample_weight) "
                                 "batches; sample_weight= and class_weight= go with arrays")
        else:
            x, y = self._checked_arrays(x, y, "fit")
            if y is None:
                raise ValueError("fit: y is required when x is an array")
            if class_weight is not None and self._output_losses is not None:
                raise ValueError(f"fit: class_weight is only supported for a model with a single output (as "
                                 f"Keras); model '{self.name}' has outputs {self._output_losses.names}. Weight "
                                 "the samples with sample_weight instead")
            weights = sample_weights(y, sample_weight, class_weight, num_samples(x), "fit", self._output_losses)
            if validation_split and validation_data is None:
                n = num_samples(x)
                split_at = int(math.floor(n * (1.0 - validation_split)))
                if split_at in (0, n):
                    raise ValueError(f"fit: validation_split={validation_split} leaves an empty set for {n} samples")
                validation_data = (take(x, slice(split_at, None)), take(y, slice(split_at, None)))
                x, y = take(x, slice(0, split_at)), take(y, slice(0, split_at))
                weights = None if weights is None else take(weights, slice(0, split_at))
            self._check_labels_once(y)
            train = ArrayBatches(x, y, batch_size or 32, shuffle=bool(shuffle), sample_weight=weights)
        val = None
        if validation_data is not None:
            val = batch_source(validation_data, validation_steps)
            if val is None:
                vx, vy = self._checked_arrays(validation_data[0], validation_data[1], "fit (validation_data)")
                val = ArrayBatches(vx, vy, batch_size or 32)
        return train, val

    def _check_labels_once(self, y):
        """Check host labels against the loss before training (device labels are not read per step)."""
        shape = getattr(self, "_output_shape", None)
        if self._output_losses is not None:
            self._output_losses.check_labels(y, shape)
            return
        check = getattr(self.loss, "check_labels", None)
        if check is not None and isinstance(y, np.ndarray) and isinstance(shape, tuple) and shape[-1]:
            check(y, shape[-1])

    def _run_epoch(self, batches, cb, steps_per_epoch):
        custom_step = self._overrides("train_step")
        logs = {}
        batches, train_batch = on_device(self, batches)  # on the GPU: prefetched, maybe a CUDA graph
        for step, (xb, yb, *weights) in enumerate(batches):
            if steps_per_epoch is not None and step >= steps_per_epoch:
                break
            cb.on_train_batch_begin(step)
            if custom_step:  # the subclass's own train_step(data), as Keras 3 calls it
                for w in self.trainable_weights:
                    w.grad = None
                logs = dict(self.train_step((xb, yb, *weights)))
                loss = logs.get("loss", 0.0)
            else:
                # a weighted step runs eagerly (a captured CUDA graph has no weights input)
                loss, pred = self._train_batch(xb, yb, weights[0]) if weights else train_batch(xb, yb)
                self._record(loss, yb, pred, num_samples(xb), weights[0] if weights else None)
                loss = loss.data
                logs = LazyLogs(self.metrics, batch_loss=loss)
            if backend.get_array_module(loss) is np or step % GPU_NAN_CHECK_EVERY == 0:
                if not bool(np.isfinite(backend.to_numpy(loss))):
                    warn_nan(cb.epoch, step)
                    self.stop_training = True
            cb.on_train_batch_end(step, logs)
            if self.stop_training:
                if not bool(np.isfinite(backend.to_numpy(loss))):  # read once, at the stop
                    self.unfinished_epoch = {"reason": "nan_loss", "epoch": cb.epoch, "batch": step}
                break
        # the epoch's logs: what a custom train_step returned last (as Keras), else the running means
        return as_floats(logs) if custom_step else dict(LazyLogs(self.metrics).resolve())

    # -- evaluate / predict ------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, steps=None,
                 sample_weight=None):
        """Loss and metrics on data (arrays or a stream of batches, ``steps`` of a
        generator), in inference mode (no dropout, no gradient tape);
        ``sample_weight`` weights the loss."""
        self._require_compiled("evaluate")
        batches = batch_source(x, steps)
        if batches is None:
            x, y = self._checked_arrays(x, y, "evaluate")
            weights = sample_weights(y, sample_weight, None, num_samples(x), "evaluate", self._output_losses)
            batches = ArrayBatches(x, y, batch_size_or_default(batch_size, "evaluate"), sample_weight=weights)
        logs = self._evaluate_batches(batches)
        if _verbosity(verbose):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in sorted(logs.items())))
        return logs if return_dict else self._in_keras_order(logs)

    def _evaluate_batches(self, batches) -> dict:
        self.reset_metrics()
        custom_step = self._overrides("test_step")
        logs = {}
        with no_grad(), blas_on_one_thread():
            for xb, yb, *weights in on_device(self, batches)[0]:
                if custom_step:
                    logs = self.test_step((xb, yb, *weights))
                else:
                    self._test_batch(xb, yb, weights[0] if weights else None)
        return as_floats(logs) if custom_step else dict(LazyLogs(self.metrics).resolve())

    def predict(self, x, batch_size=None, verbose=0, return_numpy=True, steps=None):
        """Model outputs for ``x`` (arrays or a stream of batches), batched, in
        inference mode; NumPy by default."""
        source = batch_source(x, steps)
        if source is not None:
            batches = ((batch[0], None) for batch in source)
        else:
            x, _ = checked_arrays(x, None, self.inputs, "predict")
            batches = ArrayBatches(x, None, batch_size_or_default(batch_size, "predict"))
        outs = []
        with no_grad(), blas_on_one_thread():
            for xb, _ in on_device(self, batches)[0]:
                outs.append(output_arrays(self.predict_step((xb,))))
        return joined_batches(outs, backend.to_numpy if return_numpy else None)

    def predict_on_batch(self, x):
        x, _ = checked_arrays(x, None, self.inputs, "predict_on_batch")
        with no_grad(), blas_on_one_thread():
            return joined_batches([output_arrays(self(x, training=False))], backend.to_numpy)

    def test_on_batch(self, x, y, return_dict=False):
        self._require_compiled("test_on_batch")
        return self.evaluate(x, y, batch_size=num_samples(x), verbose=0, return_dict=return_dict)

    # -- weights on disk -------------------------------------------------------------------
    def save_weights(self, filepath, overwrite=True):
        """Write all weights to a Keras-compatible ``.weights.h5`` file, atomically."""
        weights_file.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, allow_nonfinite=False):
        """Read weights saved by ``save_weights`` or by Keras, and the optimizer's state if the file
        holds one and the model is compiled (as Keras). All or nothing: a file that does not fit (or
        holds NaN/inf, unless ``allow_nonfinite=True``) raises ``WeightsFileError`` and changes nothing."""
        weights_file.load_weights(self, filepath, allow_nonfinite=allow_nonfinite)


def _verbosity(verbose) -> int:
    if verbose == "auto":
        return 1
    return int(verbose)


def warn_nan(epoch, step):
    warnings.warn(f"Batch {step} of epoch {epoch + 1}: the loss is NaN or infinite. Training stopped "
                  "(TerminateOnNaN). Try a lower learning rate or check the inputs for NaN.",
                  RuntimeWarning, stacklevel=3)
