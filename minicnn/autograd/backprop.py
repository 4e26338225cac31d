"""The backward pass: walk the recorded graph once, from the loss to the leaves.

Each Tensor made by a Function remembers it (``creator``); each Function
remembers its inputs and, weakly, its outputs, and has a ``generation``: one
more than the largest generation among its inputs' creators. Popping
Functions from a heap in order of decreasing generation visits every consumer
of a tensor before that tensor's producer, so by the time a Function runs its
``backward``, all gradient contributions to its outputs have been added up.
The walk is a loop, not recursion, so a thousand-layer network is fine, and
each Function is released after its backward, freeing the graph step by step.
"""
from __future__ import annotations

import heapq
import itertools

from .. import backend, profiler


def backpropagate(tensor, grad=None, retain_graph: bool = False) -> None:
    """Fill ``.grad`` of every leaf that ``tensor`` depends on (``Tensor.backward``)."""
    xp = backend.get_array_module(tensor.data)
    if grad is None:
        grad = xp.ones_like(tensor.data)
    if tensor.creator is None:  # a leaf: gradients accumulate
        tensor.grad = grad if tensor.grad is None else tensor.grad + grad
        return
    tensor.grad = grad  # an intermediate: only this pass counts (a retained graph may hold an old one)
    if profiler.active:
        profiler.count_step()
    counter = itertools.count()  # tie-breaker: the heap never compares Functions
    heap = [(-tensor.creator.generation, next(counter), tensor.creator)]
    queued = {id(tensor.creator)}
    # Intermediate tensors waiting for their creator's turn. Functions hold
    # their outputs only weakly, so this keeps each one (and its grad) alive.
    waiting = {id(tensor): tensor}
    while heap:
        _, _, fn = heapq.heappop(heap)
        outputs = [ref() for ref in fn.outputs]
        grads_out = [  # only gradients that arrived in this pass (waiting), never stale ones
            (o.grad if o is not None and id(o) in waiting else None) for o in outputs
        ]
        if all(g is None for g in grads_out):
            grads_in = (None,) * len(fn.inputs)
        else:
            grads_out = [
                g if g is not None else xp.zeros_like(o.data) if o is not None else None
                for g, o in zip(grads_out, outputs)
            ]
            grads_in = (profiler.timed(fn, "backward", fn.backward, grads_out) if profiler.active
                        else fn.backward(*grads_out))
            if not isinstance(grads_in, tuple):
                grads_in = (grads_in,)
        for inp, g in zip(fn.inputs, grads_in):
            if g is None or not inp.requires_grad:
                continue
            creator = inp.creator
            first = creator is not None and id(inp) not in waiting  # first contribution this pass
            inp.grad = g if inp.grad is None or first else inp.grad + g
            if creator is not None:
                waiting[id(inp)] = inp
            if creator is not None and id(creator) not in queued:
                queued.add(id(creator))
                heapq.heappush(heap, (-creator.generation, next(counter), creator))
        for o in outputs:
            if o is not None:
                waiting.pop(id(o), None)
                if not retain_graph and o is not tensor:
                    o.grad = None
        if not retain_graph:
            fn.release()
    if not retain_graph:
        tensor.creator = None
