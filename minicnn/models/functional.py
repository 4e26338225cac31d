"""Running a graph of layers recorded by the functional API.

``topological_nodes`` walks from the outputs back to the inputs (iteratively,
so very deep networks are fine) and returns the nodes in an order where every
node comes after the nodes that feed it. ``run_graph`` then executes them,
keeping each intermediate result in a dictionary keyed by its KerasTensor.
"""
from __future__ import annotations


def topological_nodes(inputs, outputs) -> list:
    """Nodes between ``inputs`` and ``outputs``, producers before consumers."""
    input_ids = {id(t) for t in inputs}
    order, state = [], {}
    stack = [(t.node, False) for t in outputs if t.node is not None]
    for t in outputs:
        _check_reachable(t, input_ids)
    while stack:
        node, children_done = stack.pop()
        if children_done:
            if state.get(id(node)) != "done":
                state[id(node)] = "done"
                order.append(node)
            continue
        if state.get(id(node)):
            continue
        state[id(node)] = "visiting"
        stack.append((node, True))
        # parents pushed last-first, so the first input's branch is visited first: the layer
        # order (and so the weight order) is Keras' own
        for t in reversed(node.input_tensors):
            if id(t) in input_ids:
                continue
            _check_reachable(t, input_ids)
            if state.get(id(t.node)) is None:
                stack.append((t.node, False))
    return order


def _check_reachable(tensor, input_ids):
    if tensor.node is None and id(tensor) not in input_ids:
        raise ValueError(
            f"Graph disconnected: {tensor} is an Input that was not passed to Model(inputs=...)."
        )


def run_graph(nodes, inputs, outputs, values: dict, training):
    """Run ``nodes`` given ``values`` {id(input KerasTensor): Tensor}; return outputs."""
    for node in nodes:
        args = [values[id(t)] for t in node.input_tensors]
        kwargs = dict(node.kwargs)
        extra_args = kwargs.pop("_args", ())
        if "training" not in kwargs:
            kwargs["training"] = training
        result = node.layer(args if isinstance(node.inputs, (list, tuple)) else args[0], *extra_args, **kwargs)
        results = result if isinstance(result, (list, tuple)) else [result]
        for t, value in zip(node.output_tensors, results):
            values[id(t)] = value
    out = [values[id(t)] for t in outputs]
    return out
