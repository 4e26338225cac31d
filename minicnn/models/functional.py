"""Running a graph of layers recorded by the functional API.

``topological_nodes`` walks from the outputs back to the inputs (iteratively,
so very deep networks are fine) and returns the nodes in an order where every
node comes after the nodes that feed it. ``run_graph`` then executes them,
keeping each intermediate result in a dictionary keyed by its KerasTensor
until its last reader has run.
"""
from __future__ import annotations

from collections import Counter

from .fusion import run_chain


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


def run_graph(nodes, inputs, outputs, values: dict, training, chains=()):
    """Run ``nodes`` given ``values`` {id(input KerasTensor): Tensor}; return outputs.

    ``chains`` (``fusion.plan_chains``) run as one convolution each where they
    may in this call, when the graph reaches their last node (by then every
    input of theirs is computed, an Add's other branch too); their inner nodes
    are skipped on the way (only the chain reads their outputs), and run
    just before the last one when the chain cannot be fused in this call.

    A value leaves ``values`` as soon as its last reader has run, as a
    variable goes out of scope in Python code: in ``predict`` its memory is
    then free for the next layers' outputs, which find it still in the
    cache, instead of every layer writing to memory no layer has touched
    this call. (In training the graph of Functions keeps what backward needs.)"""
    unread = Counter(id(t) for node in nodes for t in node.input_tensors)
    keep = {id(t) for t in outputs}

    def read(node):
        for t in node.input_tensors:
            unread[id(t)] -= 1
            if unread[id(t)] == 0 and id(t) not in keep:
                values.pop(id(t), None)

    last_of = {id(chain.nodes[-1]): chain for chain in chains}
    inside = {id(n) for chain in chains for n in chain.nodes[:-1]}
    for node in nodes:
        if id(node) in inside:
            continue
        chain = last_of.get(id(node))
        run_alone = [node]
        if chain is not None:
            fused = run_chain(chain, values, training)
            if fused is not None:
                values[id(node.output_tensors[0])] = fused
                run_alone = []
            else:
                run_alone = chain.nodes
        for alone in run_alone:
            _run_node(alone, values, training)
        for reader in (chain.nodes if chain is not None else [node]):
            read(reader)
    return [values[id(t)] for t in outputs]


def in_key_order(keys, values_by_sorted_key) -> dict:
    """A dict-output model's values, given in sorted-key order (how Keras and minicnn
    list its outputs), as the dict ``{key: value}`` in the model's own key order."""
    by_key = dict(zip(sorted(keys), values_by_sorted_key))
    return {k: by_key[k] for k in keys}


def _run_node(node, values: dict, training) -> None:
    """Call one node's layer on its inputs' values and store its outputs'."""
    args = [values[id(t)] for t in node.input_tensors]
    kwargs = dict(node.kwargs)
    extra_args = kwargs.pop("_args", ())
    if "training" not in kwargs:
        kwargs["training"] = training
    result = node.layer(args if isinstance(node.inputs, (list, tuple)) else args[0], *extra_args, **kwargs)
    if isinstance(result, dict):  # a nested model with a dict of outputs: its node lists them by sorted key
        result = [result[k] for k in sorted(result)]
    results = result if isinstance(result, (list, tuple)) else [result]
    for t, value in zip(node.output_tensors, results):
        values[id(t)] = value


def keras_layer_order(inputs, outputs) -> list:
    """The layers of a graph in the order Keras lists them in ``model.layers``.

    Keras sorts by *depth* — the longest path from the layer to an output — deepest
    first, and breaks ties by when a depth-first walk from the outputs first meets
    the layer. For a chain that is simply creation order; for a residual block it
    puts the shortcut's conv just before the ``Add``, after the main path. The order
    matters to users: ``base.layers[:fine_tune_at]`` freezes the same layers as in
    Keras, and weights come out of ``get_weights()`` in Keras' order.
    """
    input_ids = {id(t) for t in inputs}

    def key(t):
        """A graph vertex: the tensor's producing Node, or the Input tensor itself."""
        return t if t.node is None else t.node

    def layer_of(vertex):
        return vertex.input_layer if getattr(vertex, "node", 0) is None else vertex.layer

    def parents(vertex):
        if getattr(vertex, "node", 0) is None:  # an Input: nothing feeds it
            return []
        return [key(t) for t in vertex.input_tensors if t.node is None or id(t) not in input_ids]

    first_seen, post_order, finished = {}, [], set()
    stack = [(key(t), False) for t in reversed(outputs) if t.node is None or id(t) not in input_ids]
    while stack:  # iterative depth-first walk from the outputs, first inputs first
        vertex, expanded = stack.pop()
        if id(vertex) in finished:
            continue
        if expanded:
            finished.add(id(vertex))
            post_order.append(vertex)
            continue
        first_seen.setdefault(id(layer_of(vertex)), len(first_seen))
        stack.append((vertex, True))
        stack += [(p, False) for p in reversed(parents(vertex))]

    vertex_depth, layer_depth, layers = {}, {}, {}
    for vertex in reversed(post_order):  # outputs first: a parent is one deeper than its child
        layer = layer_of(vertex)
        depth = max(vertex_depth.setdefault(id(vertex), 0), layer_depth.get(id(layer), 0))
        layer_depth[id(layer)], vertex_depth[id(vertex)], layers[id(layer)] = depth, depth, layer
        for p in parents(vertex):
            vertex_depth[id(p)] = max(depth + 1, vertex_depth.get(id(p), 0))
    for t in inputs:  # an Input no output depends on is still listed (last, as Keras)
        layer = getattr(t, "input_layer", None)
        if layer is not None and id(layer) not in layers:
            layers[id(layer)], layer_depth[id(layer)], first_seen[id(layer)] = layer, 0, -1
    return sorted(layers.values(), key=lambda l: (-layer_depth[id(l)], first_seen[id(l)]))
