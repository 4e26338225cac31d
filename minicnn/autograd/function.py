"""``Function``: one differentiable operation, and the ``no_grad`` switch.

A Function receives raw arrays in ``forward`` and returns raw arrays; it keeps
whatever ``backward`` will need (a mask, the im2col matrix, ...) as attributes.
``needs_input_grad`` (one bool per input) is set before ``forward`` runs: all
False when nothing will be differentiated (inference), so forward can skip
keeping what no backward will read.
``backward`` receives the gradient of the loss with respect to each output and
returns the gradient with respect to each input (``None`` for inputs that need
none). Calling a Function on Tensors runs ``forward`` and, unless gradients are
switched off, links the outputs to the Function so that ``Tensor.backward`` can
walk the graph later. That link is the whole "tape".
"""
from __future__ import annotations

import contextlib
import threading
import weakref

from .. import backend, profiler

_config = threading.local()


def grad_enabled() -> bool:
    """Whether operations are being recorded for backward."""
    return getattr(_config, "enabled", True)


@contextlib.contextmanager
def no_grad():
    """Context in which nothing is recorded: inference uses less memory and time."""
    old = grad_enabled()
    _config.enabled = False
    try:
        yield
    finally:
        _config.enabled = old


class Function:
    """Base class of every differentiable operation.

    Subclasses implement ``forward(*arrays)`` and ``backward(*grad_outputs)``.
    ``generation`` orders the graph: a Function's generation is the largest
    generation of its inputs, so processing Functions from the highest generation
    down visits every consumer of a tensor before that tensor's producer.
    """

    generation = 0
    inputs = ()
    outputs = ()
    needs_input_grad = None  # set by __call__; None: forward was called directly

    def __call__(self, *inputs):
        from .tensor import Tensor, as_tensor  # noqa: PLC0415 - tensor imports this module

        tensors = [as_tensor(x) for x in inputs]
        recording = grad_enabled() and any(t.requires_grad for t in tensors)
        # Known before forward runs, so that forward keeps only what backward will use.
        self.needs_input_grad = tuple(recording and t.requires_grad for t in tensors)
        arrays = [t.data for t in tensors]
        arrays = (profiler.timed(self, "forward", self.forward, arrays) if profiler.active
                  else self.forward(*arrays))
        single = not isinstance(arrays, tuple)
        outputs = [Tensor(a) for a in ((arrays,) if single else arrays)]
        if recording:
            self.generation = max(t.generation for t in tensors)
            for out in outputs:
                out.creator = self
                out.generation = self.generation + 1
                out.requires_grad = True
            self.inputs = tensors
            # Weak references: the graph does not keep outputs alive on its own.
            self.outputs = [weakref.ref(o) for o in outputs]
        return outputs[0] if single else outputs

    @property
    def xp(self):
        """Array module of the data this Function saw (NumPy or CuPy)."""
        return backend.get_array_module(*[t.data for t in self.inputs])

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError

    def release(self) -> None:
        """Drop the links and saved arrays once backward has used them."""
        self.inputs = ()
        self.outputs = ()
        for name in [k for k in vars(self) if k not in ("generation",)]:
            delattr(self, name)
