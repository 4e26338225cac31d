"""Neighbouring layers of a functional graph that run as one convolution.

MobileNet, ResNet and Xception repeat one pattern hundreds of times::

    [ZeroPadding2D] -> Conv2D / DepthwiseConv2D / SeparableConv2D -> BatchNormalization -> [ReLU / ReLU6]

and end each residual block with another::

    Conv2D / SeparableConv2D -> [BatchNormalization] -> Add(the block's other branch) -> [ReLU]

and VGG another, ``Conv2D(activation='relu') -> MaxPooling2D``, which runs as
the same fused Function a ``Sequential`` uses for it (``ops/conv_pool.py``).
A BatchNormalization -> ReLU with no convolution to fold into (ResNetV2's
pre-activation, after an Add) still runs as one pass (``BatchNormalization.call_fused``).

Run layer by layer, each arrow is a full pass over the activations (read,
write, and again in backward). But a BatchNormalization that uses its moving
statistics (inference, or a frozen BN during ``fit``) is an affine map per
channel, y = x·s + t with s = γ/sqrt(var + ε) and t = β - mean·s, so it folds
into the convolution before it::

    conv(x, w) + b, then ·s + t   ==   conv(x, w·s) + (b·s + t)

The folded kernel is computed from the saved weights (``BatchNormalization.fold_into``,
which caches it until a weight or statistic changes; the saved weights are
never changed). The ReLU then happens in the convolution's output pass, and
so does the Add: its other input is added where the bias is
(``ops/conv.py::Conv2DAddFunction``), which saves the Add's own pass over
three arrays. A ZeroPadding2D before a 'valid' convolution becomes the
convolution's own padding. Gradients flow through the folding (it is built
from Tensor operations), so a frozen BN between trainable convolutions fuses
in ``fit`` too.

``plan_chains`` finds the chains once per graph, from the layers' declared
``kind`` and ``as_relu()``: each link must be the only consumer of the tensor
before it (and not a model output), so nothing else sees the skipped
intermediate values. ``run_chain`` runs one at call time, when the graph
reaches the chain's last node (an Add's other input is ready by then). A
BatchNormalization in training mode normalises with the batch's statistics
and so cannot fold; the chain then runs as the convolution (padding folded
in) and the BatchNormalization with its ReLU in one pass forward and one
backward (``BatchNormalization.call_batch_statistics``), or layer by layer
if it ends in an Add. ``summary()`` and ``explain()`` list the chains
(``Model.fused_groups``).
"""
from __future__ import annotations

from .. import activations
from ..layers.base import in_training
from ..layers.merging import Add

CONVOLUTIONS = ("conv", "depthwise_conv", "separable_conv")
ENDS_IN_A_GEMM = ("conv", "separable_conv")  # whose output pass can add a residual


class Chain:
    """One fusable run of graph nodes: [pad] conv [batch_norm] [relu],
    [pad] conv [batch_norm] add [relu], conv max_pool, or batch_norm relu."""

    def __init__(self, pad, conv, batch_norm, relu, max_pool=None, add=None):
        self.pad, self.conv, self.batch_norm, self.relu, self.max_pool = pad, conv, batch_norm, relu, max_pool
        self.add = add

    @property
    def nodes(self) -> list:
        """In graph order: the ReLU of a chain with an Add comes after it."""
        return [n for n in (self.pad, self.conv, self.batch_norm, self.add, self.relu, self.max_pool)
                if n is not None]

    def residual(self):
        """The Add's input that does not come from the chain: its other branch."""
        out = _single_output(self.batch_norm or self.conv)
        return next(t for t in self.add.input_tensors if t is not out)

    @property
    def layers(self) -> list:
        return [n.layer for n in self.nodes]


def _only_consumer(nodes, outputs):
    """{id(tensor): the one node that reads it}, for tensors read once and not a model output."""
    readers: dict[int, list] = {}
    for node in nodes:
        for t in node.input_tensors:
            readers.setdefault(id(t), []).append(node)
    output_ids = {id(t) for t in outputs}
    return {tid: found[0] for tid, found in readers.items() if len(found) == 1 and tid not in output_ids}


def _single_output(node):
    outs = node.output_tensors
    return outs[0] if len(outs) == 1 else None


def _next(node, consumer):
    """The node that alone reads ``node``'s single output, or None."""
    out = _single_output(node)
    return None if out is None else consumer.get(id(out))


def _conv_is_fusable(layer) -> bool:
    return layer.kind in CONVOLUTIONS and layer.activation is activations.linear and layer.built


def _bn_is_foldable(layer) -> bool:
    return layer.kind == "batch_norm" and layer.built and layer.axis in (-1, 3)


def _adds_a_residual(add, conv) -> bool:
    """An Add of two tensors of one shape (no broadcasting) after a convolution
    whose last step is a GEMM. Not a subclass with a ``call`` of its own: the
    fused sum would skip it."""
    if (add is None or add.layer.kind != "add" or type(add.layer).call is not Add.call or not add.layer.built
            or conv.layer.kind not in ENDS_IN_A_GEMM):
        return False
    shapes = [tuple(t.shape[1:]) for t in add.input_tensors]
    return len(shapes) == 2 and shapes[0] == shapes[1] and None not in shapes[0]


def plan_chains(nodes, outputs) -> list[Chain]:
    """The chains of ``nodes`` worth running fused, in graph order: a convolution
    with a BatchNormalization, an Add or a ReLU after it or a padding before it;
    a Conv2D(relu) with its MaxPooling2D; a BatchNormalization with its ReLU.
    When both branches of an Add end in a convolution (ResNet's projection
    shortcut), the first one in graph order takes it."""
    consumer = _only_consumer(nodes, outputs)
    chains, claimed_adds = [], set()
    for node in nodes:
        following = _next(node, consumer)
        if following is not None and node.layer.built and node.layer.fuses_with(following.layer):
            chains.append(Chain(None, node, None, None, max_pool=following))
            continue
        if node.layer.kind not in CONVOLUTIONS or not _conv_is_fusable(node.layer):
            continue
        pad = None
        source = node.input_tensors[0]
        if (len(node.input_tensors) == 1 and source.node is not None and source.node.layer.kind == "zero_padding"
                and node.layer.padding == "valid" and consumer.get(id(source)) is node):
            pad = source.node
        batch_norm = _next(node, consumer)
        if batch_norm is not None and not _bn_is_foldable(batch_norm.layer):
            batch_norm = None
        add = _next(batch_norm or node, consumer)
        if not _adds_a_residual(add, node) or id(add) in claimed_adds:
            add = None
        else:
            claimed_adds.add(id(add))
        relu = _next(add or batch_norm or node, consumer)
        if relu is not None and not relu.layer.as_relu()[0]:
            relu = None
        if pad or batch_norm or add or relu:
            chains.append(Chain(pad, node, batch_norm, relu, add=add))
    in_chains = {id(n) for chain in chains for n in chain.nodes}
    for node in nodes:
        if id(node) in in_chains or not _bn_is_foldable(node.layer):
            continue
        relu = _next(node, consumer)
        if relu is not None and relu.layer.as_relu()[0]:
            chains.append(Chain(None, None, node, relu))
    return sorted(chains, key=lambda chain: nodes.index(chain.nodes[0]))


def _training_of(node, training):
    """The training flag a node's layer would see: its own call argument, the
    graph's, or the enclosing call's."""
    flag = node.kwargs.get("training", training)
    return in_training() if flag is None else bool(flag)


def run_chain(chain: Chain, values: dict, training):
    """The chain's output, computed as one convolution, or as a convolution and
    a BatchNormalization with its ReLU when that uses batch statistics (it then
    cannot fold); None when the chain must run layer by layer: nothing would be
    gained (a training-mode BN alone after the convolution, or before an Add),
    or the Add's other input is not what the convolution makes (another batch
    size or dtype: the Add then says what is wrong)."""
    first = chain.nodes[0]
    x = values[id(first.input_tensors[0])]
    if chain.max_pool is not None:
        return chain.conv.layer(x, max_pool=chain.max_pool.layer)
    relu, max_value = chain.relu.layer.as_relu() if chain.relu is not None else (False, None)
    pads = chain.pad and chain.pad.layer.padding
    bn = chain.batch_norm and chain.batch_norm.layer
    residual = None
    if chain.add is not None:
        residual = values[id(chain.residual())]
        if residual.shape[0] != x.shape[0] or residual.dtype != x.dtype:
            return None
    if bn is not None and _training_of(chain.batch_norm, training) and bn.trainable:
        if (chain.relu is None and chain.pad is None) or chain.add is not None:
            return None
        if chain.conv is not None:
            x = chain.conv.layer.call_fused(x, pads=pads)
        return bn.call_batch_statistics(x, relu=relu, max_value=max_value)
    if chain.conv is None:
        return bn.call_fused(x, relu=relu, max_value=max_value)
    conv = chain.conv.layer
    if residual is None:
        return conv.call_fused(x, batch_norm=bn, relu=relu, max_value=max_value, pads=pads)
    return conv.call_fused(x, batch_norm=bn, relu=relu, max_value=max_value, pads=pads, residual=residual)
