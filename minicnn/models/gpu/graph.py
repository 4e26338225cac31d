"""A whole training step captured once as a CUDA graph, then replayed.

A small CNN's training step is a few hundred tiny GPU kernels. Launched one by
one from Python, each costs ~5-20 µs of host time, often more than the kernel
runs: the GPU waits for Python ("launch-bound"). A CUDA graph records the
kernels of one step, with their arguments and memory addresses, and replays
all of them with one launch.

What must hold for a replay to be the same step as an eager one:

1. **Fixed shapes and addresses.** The graph reads its inputs from two static
   device buffers; every step first copies the batch into them. A batch of
   another shape or dtype (the last, smaller batch of an epoch) runs eagerly.
2. **Memory the graph owns.** Arrays created during capture (activations,
   gradients, workspaces) come from a private CuPy memory pool that nothing
   else allocates from, so replays can rewrite them without clobbering anyone.
3. **No host numbers that change between steps.** Host scalars are baked into
   the kernels' arguments at capture. Adam's step size (``Adam.step_size``)
   changes every step, so the step reads it from a one-element device array
   (``Adam.device_step_size``), which the step itself computes first, on the
   device, from a step counter that also lives there (``_advance_step_size``):
   nothing is copied from the host per step. The learning rate itself is
   baked: when it changes (a schedule, a callback), the step is captured
   again; after a few re-captures it stays eager.
4. **No host synchronisation and no host randomness inside the step.** A
   ``float(...)`` of a device value, clipping by global norm, an augmentation's
   parameters drawn on the host: capture would fail or bake one draw forever.
   Such models (layers with ``draws_host_random_numbers``) are refused before
   capture; anything else that breaks capture falls back to eager too. Dropout
   and GaussianNoise are fine: their numbers come from a stream whose position
   lives on the card (``random.DeviceStream``), so each replay draws afresh.

The first ``warmup`` steps run eagerly (kernels compile, optimizer slots and the
pool get created), then the next batch is captured and replayed, and every later
batch of the same shape is a replay. ``fit`` uses this when ``MINICNN_CUDA_GRAPH=1``
and the device is the GPU (``models/gpu/__init__.py``).
"""
from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np

from ... import backend, optimizers
from ...autograd import Tensor


class NotCapturable(RuntimeError):
    """The model or optimizer needs something a graph cannot replay."""


def train_step_function(model):
    """The step ``fit`` calls on the GPU: a (cached) ``CapturedTrainStep`` with
    ``MINICNN_CUDA_GRAPH=1``, the eager ``model._train_batch`` otherwise. A model with
    several outputs trains eagerly: their list of targets has no one static buffer."""
    if os.environ.get("MINICNN_CUDA_GRAPH", "0") != "1" or getattr(model, "_output_losses", None) is not None:
        return model._train_batch
    step = getattr(model, "_cuda_graph_step", None)
    if step is None or step.optimizer is not model.optimizer:
        step = model._cuda_graph_step = CapturedTrainStep(model)
    return step


class CapturedTrainStep:
    """Call like ``model._train_batch(x, y)``; replays a captured graph when it can.

    One graph per step signature (batch shapes and dtypes, learning rate): the
    full batches and an epoch's smaller last batch each get theirs. Beyond
    ``MAX_GRAPHS`` signatures, new ones run eagerly.
    """

    MAX_GRAPHS = 3

    def __init__(self, model, warmup=2):
        self.model, self.optimizer, self.warmup = model, model.optimizer, warmup
        self.graphs: dict[tuple, _Captured] = {}
        self.alpha = self.step_counter = None  # Adam's step size and step number, on the device
        self._counter_at = None  # the optimizer's iterations the device counter was last synced to
        self.eager_steps = self.replays = 0
        self.disabled_reason = None
        self._random_sources = None  # the RandomSources of the layers that draw on the device

    # -- the step --------------------------------------------------------------------
    def __call__(self, x, y):
        cupy = backend.default_xp()
        self._sync_step_counter(cupy)
        self._prepare_random_streams(cupy)
        if self.disabled_reason is None and self.eager_steps >= self.warmup:
            sig = _signature(x, y) + (self.optimizer.learning_rate,)
            captured = self.graphs.get(sig)
            if captured is not None:
                captured.x[...] = cupy.asarray(x)
                captured.y[...] = cupy.asarray(y)
                self.optimizer.iterations += 1  # what the replayed apply() would have counted
                if self.alpha is not None:  # and the step counter the replay advances on the device
                    self._counter_at += 1
                for w in self.model.trainable_weights:
                    w.version += 1
                return self._launch(captured)
            if len(self.graphs) < self.MAX_GRAPHS:
                captured = self._try_capture(cupy, x, y)
                if captured is not None:
                    self.graphs[sig] = captured
                    return self._launch(captured)  # capture recorded the step without running it
        self.eager_steps += 1
        with self._step_size_on_device():  # the eager twin of the captured step
            return self.model._train_batch(x, y)

    def _sync_step_counter(self, cupy):
        """Create Adam's device step counter, or set it again when the
        optimizer's ``iterations`` moved without this step (weights and
        optimizer state loaded, another training loop): one host-to-device
        copy then, none in the steps that follow (rule 3)."""
        if not isinstance(self.optimizer, optimizers.Adam):
            return
        if self.alpha is None:
            weights = self.model.trainable_weights
            self.alpha = cupy.zeros(1, dtype=weights[0].data.dtype if weights else backend.floatx())
        if self.step_counter is None:
            self.step_counter = cupy.zeros(1, dtype=np.float64)
        if self._counter_at != self.optimizer.iterations:  # in place: captured graphs hold its address
            self.step_counter[...] = cupy.asarray(np.array([self.optimizer.iterations], dtype=np.float64))
            self._counter_at = self.optimizer.iterations

    def _prepare_random_streams(self, cupy):
        """Key the device random streams of Dropout and GaussianNoise (``random.DeviceStream``)
        before the step, outside any capture: new ones get their one host copy here, and
        after ``set_random_seed`` the replays draw from the new key, changed in place."""
        if self._random_sources is None:
            self._random_sources = [layer._random for layer in _all_layers(self.model)
                                    if getattr(layer, "_random", None) is not None
                                    and not layer.draws_host_random_numbers]
        for source in self._random_sources:
            source.prepare(cupy)

    def _advance_step_size(self, cupy):
        """t += 1 and alpha = lr·sqrt(1-β2ᵗ)/(1-β1ᵗ) (``Adam.step_size``), both on
        the device, in float64 like the host formula: the first kernels of each
        step, eager or captured, so a replay computes its own step size."""
        if self.alpha is None:
            return
        self.step_counter += 1
        t, opt = self.step_counter, self.optimizer
        step_size = float(opt.learning_rate) * cupy.sqrt(1 - opt.beta_2 ** t) / (1 - opt.beta_1 ** t)
        self.alpha[...] = step_size.astype(self.alpha.dtype)
        self._counter_at += 1

    @contextlib.contextmanager
    def _step_size_on_device(self, advance=True):
        """While active, Adam's update reads its step size from the device array
        (rule 3), computed first for the coming step (``advance``; a capture
        records that itself). Eager warm-up steps run this way too, so the
        kernels captured are the ones already compiled and loaded."""
        if not isinstance(self.optimizer, optimizers.Adam):
            yield
            return
        if advance:
            self._advance_step_size(backend.default_xp())
        self.optimizer.device_step_size = self.alpha
        try:
            yield
        finally:
            self.optimizer.device_step_size = None

    def _launch(self, captured):
        captured.graph.launch()
        self.replays += 1
        # copies: the next replay rewrites the graph's own outputs in place
        return Tensor(captured.loss.data.copy()), Tensor(captured.pred.data.copy())

    # -- capture ------------------------------------------------------------------------
    def _try_capture(self, cupy, x, y):
        iterations = self.optimizer.iterations
        try:
            _check_capturable(self.model, self.optimizer)
            return self._capture(cupy, x, y)
        except Exception as exc:  # noqa: BLE001 - any failure means: stay eager, say why once
            self.optimizer.iterations = iterations  # a broken capture ran no update
            self.disabled_reason = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"CUDA graph capture failed, training eagerly: {self.disabled_reason}",
                          RuntimeWarning, stacklevel=3)
            return None

    def _capture(self, cupy, x, y):
        c = _Captured()
        c.pool = cupy.cuda.MemoryPool()  # the graph's private memory (rule 2)
        with cupy.cuda.using_allocator(c.pool.malloc):
            c.x, c.y = cupy.array(x), cupy.array(y)
            stream = cupy.cuda.Stream(non_blocking=True)
            stream.wait_event(cupy.cuda.get_current_stream().record())
            with stream, self._step_size_on_device(advance=False):
                stream.begin_capture()
                try:
                    self._advance_step_size(cupy)  # recorded: each replay advances the step counter
                    c.loss, c.pred = self.model._train_batch(c.x, c.y)
                finally:
                    c.graph = stream.end_capture()
        cupy.cuda.get_current_stream().wait_event(stream.record())  # static inputs are in place
        return c


class _Captured:
    """One captured step: its static inputs and outputs, graph and private pool."""

    x = y = loss = pred = graph = pool = None


def _signature(x, y):
    return tuple((tuple(a.shape), str(a.dtype)) for a in (x, y))


def _check_capturable(model, optimizer):
    for layer in _all_layers(model):
        if layer.draws_host_random_numbers:
            raise NotCapturable(f"layer '{layer.name}' ({type(layer).__name__}) draws random numbers on the host")
    if optimizer.clipnorm or optimizer.clipvalue or optimizer.global_clipnorm:
        raise NotCapturable("gradient clipping reads norms on the host")
    if callable(optimizer._learning_rate):
        raise NotCapturable("a learning-rate schedule changes the baked learning rate every step")
    if not isinstance(optimizer, (optimizers.Adam, optimizers.SGD, optimizers.RMSprop)):
        raise NotCapturable(f"optimizer {type(optimizer).__name__} has no capturable update")


def _all_layers(model):
    seen, stack = [], list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        seen.append(layer)
        stack.extend(getattr(layer, "layers", []) or [])
    return seen
