"""``model.explain()``: every number of a CNN worked out, with its formula.

``summary()`` says *what* each layer produces; ``explain()`` says *why* and *how
much*. For every layer it prints

* the output-size rule with this layer's numbers filled in, per spatial axis:
  ``floor((N + 2p − k_eff)/s) + 1`` (``k_eff = (k−1)·d + 1``), and for
  ``padding='same'`` how Keras splits the padding (an odd total puts the extra
  pixel after, i.e. bottom/right) — see ``minicnn/ops/shapes.py``;
* the parameter count with its formula, e.g. ``k·k·c_in·c_out + c_out``;
* the multiply-adds (MACs) one image costs: a Conv2D does ``k·k·c_in`` of them
  for every output value (``out_h·out_w·c_out`` values); a Dense layer
  ``in·units``. Biases, activations and pooling are not counted (a few percent),
  as papers count "Mult-Adds"; 1 MAC = 2 FLOP;
* the activation memory: the output values of one image and their bytes;
* for two layers that run as one fused Function (a Conv2D(relu) and the
  MaxPooling2D after it in a Sequential; a convolution, BatchNormalization and
  ReLU in a graph: ``fused_groups``), a line saying so on each.

Then the totals for one forward pass and for one training step. A training step
runs every GEMM three times — forward, dL/dW and dL/dx (``minicnn/ops/conv.py``)
— except that dL/dW is skipped for frozen layers and dL/dx below the lowest
trainable layer, because nothing down there learns.

``explain_model(model)`` returns the numbers as data (used by the tests);
``Model.explain()`` and ``Model.summary(explain=True)`` print them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..ops.shapes import effective_kernel, output_length, same_padding
from .summary import format_shape, fusion_note, readable_bytes


@dataclass
class LayerExplanation:
    """The worked numbers of one layer, for one image."""

    name: str
    kind: str  # the layer's class name, as summary() shows it
    input_shape: object
    output_shape: object
    size_lines: list[str] = field(default_factory=list)
    params: int = 0
    param_formula: str = ""
    macs: int = 0
    mac_formula: str = ""
    activations: int = 0  # output values per image
    itemsize: int = 4
    im2col_values: int = 0  # size of the column matrix a Conv2D keeps for backward (reference kernels)
    trainable_params: int = 0
    fusion: str = ""  # the fused group this layer is part of (``summary.fusion_note``), if any
    children: list["LayerExplanation"] = field(default_factory=list)


@dataclass
class ModelExplanation:
    """Per-layer explanations and the totals of one forward pass / training step."""

    name: str
    layers: list[LayerExplanation]
    params: int
    trainable_params: int
    param_bytes: int
    trainable_bytes: int
    forward_macs: int
    weight_grad_macs: int
    input_grad_macs: int
    activation_values: int
    activation_bytes: int
    im2col_values: int
    im2col_bytes: int

    @property
    def forward_flops(self) -> int:
        return 2 * self.forward_macs

    @property
    def training_macs(self) -> int:
        return self.forward_macs + self.weight_grad_macs + self.input_grad_macs


# -- output sizes ------------------------------------------------------------------
def axis_size_formula(n, k: int, stride: int, padding: str, dilation: int = 1) -> list[str]:
    """The output-size computation of one axis, as lines of text with numbers in.

    >>> axis_size_formula(32, 3, 1, "same")[-1]
    'floor((32 + 2·1 − 3)/1) + 1 = 32'
    """
    if n is None:
        return ["size unknown until data arrives (None)"]
    k_eff = effective_kernel(k, dilation)
    lines = []
    if dilation > 1:
        lines.append(f"k_eff = (k−1)·d + 1 = ({k}−1)·{dilation} + 1 = {k_eff}")
    if padding == "same":
        before, after = same_padding(n, k, stride, dilation)
        target = -(-n // stride)
        total = before + after
        split = f"{before} before, {after} after" + (" (odd: the extra one goes after)" if before != after else "")
        lines.append(f"'same' keeps ceil(N/s): out = ceil({n}/{stride}) = {target}")
        lines.append(f"padding = max((out−1)·s + k_eff − N, 0) = max(({target}−1)·{stride} + {k_eff} − {n}, 0) "
                     f"= {total} → {split}")
        pad_text = f"2·{before}" if before == after else f"{before} + {after}"
    else:
        before = after = 0
        pad_text = "2·0"
    out = (n + before + after - k_eff) // stride + 1
    assert out == output_length(n, k, stride, padding, dilation)
    lines.append(f"floor(({n} + {pad_text} − {k_eff})/{stride}) + 1 = {out}")
    return lines


def window_size_lines(in_shape, kernel, strides, padding, dilation=(1, 1)) -> list[str]:
    """Size lines for both spatial axes (written once when they are the same)."""
    (h, w) = in_shape[1:3]
    rows = axis_size_formula(h, kernel[0], strides[0], padding, dilation[0])
    cols = axis_size_formula(w, kernel[1], strides[1], padding, dilation[1])
    if rows == cols:
        return ["H, W: " + rows[0]] + ["      " + r for r in rows[1:]]
    return (["H: " + rows[0]] + ["   " + r for r in rows[1:]]
            + ["W: " + cols[0]] + ["   " + c for c in cols[1:]])


# -- per-layer rules -------------------------------------------------------------------
def _n(values) -> str:
    return "·".join(str(v) for v in values)


def _weights_formula(layer) -> str:
    """Generic parameter formula: the size of each weight, added up."""
    parts = [f"{w.name} {_n(w.shape) if w.shape else 1}" for w in layer.weights]
    return " + ".join(parts) + f" = {layer.count_params():,}" if parts else "no weights"


def _conv(layer, ex: LayerExplanation):
    kh, kw = layer.kernel_size
    k2 = "k·k" if kh == kw else "kh·kw"
    c_in = ex.input_shape[-1]
    _, oh, ow, c_out = ex.output_shape
    ex.size_lines = window_size_lines(ex.input_shape, layer.kernel_size, layer.strides, layer.padding,
                                      layer.dilation_rate)
    if layer.kind != "conv":  # one k×k filter per input channel (× m): no channel mixing
        m = layer.depth_multiplier
        ex.im2col_values = oh * ow * kh * kw * c_in
        numbers = f"{kh}·{kw}·{c_in}·{m}"
        if layer.kind == "separable_conv":  # then a 1×1 Conv2D mixes the c_in·m channels
            mid = c_in * m
            ex.param_formula = (f"{k2}·c_in·m + c_in·m·filters{' + filters' if layer.use_bias else ''} = "
                                f"{numbers} + {mid}·{c_out}{f' + {c_out}' if layer.use_bias else ''} = {ex.params:,}")
            ex.macs = oh * ow * mid * (kh * kw + c_out)
            ex.mac_formula = (f"out_h·out_w·c_in·m·({k2} + filters) = {oh}·{ow}·{mid}·({kh}·{kw} + {c_out}) "
                              f"= {ex.macs:,}")
            return
        ex.param_formula = (f"{k2}·c_in·m{' + c_in·m' if layer.use_bias else ''} = {numbers}"
                            f"{f' + {c_in * m}' if layer.use_bias else ''} = {ex.params:,}")
        ex.macs = oh * ow * c_out * kh * kw
        ex.mac_formula = f"out_h·out_w·(c_in·m)·({k2}) = {oh}·{ow}·{c_out}·({kh}·{kw}) = {ex.macs:,}"
        return
    bias = " + c_out" if layer.use_bias else ""
    ex.param_formula = (f"{k2}·c_in·c_out{bias} = {kh}·{kw}·{c_in}·{c_out}"
                        + (f" + {c_out}" if layer.use_bias else "") + f" = {ex.params:,}")
    ex.macs = oh * ow * c_out * kh * kw * c_in
    ex.mac_formula = f"out_h·out_w·c_out·({k2}·c_in) = {oh}·{ow}·{c_out}·({kh}·{kw}·{c_in}) = {ex.macs:,}"
    ex.im2col_values = oh * ow * kh * kw * c_in


def _pool(layer, ex: LayerExplanation):
    kh, kw = layer.pool_size
    ex.size_lines = window_size_lines(ex.input_shape, layer.pool_size, layer.strides, layer.padding)
    op = "max" if layer.kind == "max_pool" else "mean"
    ex.mac_formula = f"none: a {op} over each {kh}×{kw} window ({kh * kw} reads per output value), no weights"


def _dense(layer, ex: LayerExplanation):
    n_in, units = ex.input_shape[-1], ex.output_shape[-1]
    positions = math.prod(ex.input_shape[1:-1])  # Dense on (N, H, W, C) applies per pixel, as Keras
    bias = " + units" if layer.use_bias else ""
    ex.param_formula = (f"in·units{bias} = {n_in}·{units}" + (f" + {units}" if layer.use_bias else "")
                        + f" = {ex.params:,}")
    ex.macs = positions * n_in * units
    where = f"{positions}·" if positions > 1 else ""
    ex.size_lines = [f"last axis: {n_in} inputs → {units} units" + (f", at each of {positions} positions"
                                                                   if positions > 1 else "")]
    ex.mac_formula = f"{'positions·' if positions > 1 else ''}in·units = {where}{n_in}·{units} = {ex.macs:,}"


def _flatten(layer, ex: LayerExplanation):
    ex.size_lines = [f"{' · '.join(str(s) for s in ex.input_shape[1:])} = {ex.output_shape[-1]:,} values in a row "
                     "(NHWC order: channels vary fastest)"]


def _zero_padding(layer, ex: LayerExplanation):
    (top, bottom), (left, right) = layer.padding
    _, h, w, _ = ex.input_shape
    ex.size_lines = [f"H: {h} + {top} + {bottom} = {ex.output_shape[1]}",
                     f"W: {w} + {left} + {right} = {ex.output_shape[2]}"]


def _global_pool(layer, ex: LayerExplanation):
    _, h, w, c = ex.input_shape
    ex.size_lines = [f"one value per channel: {h}×{w} pixels → 1, {c} channels stay"]


# The rule that works out a layer's numbers, by the kind the layer declares (``Layer.kind``).
def _conv_transpose(layer, ex: LayerExplanation):
    """Each input pixel adds its kh×kw×filters patch to the output: the
    multiply-adds are counted over the inputs, not the outputs."""
    kh, kw = layer.kernel_size
    k2 = "k·k" if kh == kw else "kh·kw"
    _, ih, iw, c_in = ex.input_shape
    _, oh, ow, c_out = ex.output_shape
    ops = layer.output_padding or (None, None)
    for axis, n, k, s, op, d, out in zip("HW", (ih, iw), layer.kernel_size, layer.strides, ops,
                                         layer.dilation_rate, (oh, ow)):
        k_eff = effective_kernel(k, d)
        if layer.padding == "valid":
            if op is None:
                rule = (f"(N−1)·s + max(k_eff, s) = ({n}−1)·{s} + max({k_eff}, {s}) = {out} "
                        "(no output_padding given)")
            else:
                rule = f"(N−1)·s + k_eff + output_padding = ({n}−1)·{s} + {k_eff} + {op} = {out}"
        elif op is None:
            rule = f"'same' and no output_padding: N·s = {n}·{s} = {out}"
        else:
            rule = f"(N−1)·s + k_eff mod 2 + output_padding = ({n}−1)·{s} + {k_eff % 2} + {op} = {out}"
        ex.size_lines.append(f"{axis}: {rule}")
    bias = " + filters" if layer.use_bias else ""
    ex.param_formula = (f"{k2}·filters·c_in{bias} = {kh}·{kw}·{c_out}·{c_in}"
                        + (f" + {c_out}" if layer.use_bias else "") + f" = {ex.params:,}")
    ex.macs = ih * iw * c_in * kh * kw * c_out
    ex.mac_formula = f"in_h·in_w·c_in·({k2}·filters) = {ih}·{iw}·{c_in}·({kh}·{kw}·{c_out}) = {ex.macs:,}"


RULES = {
    "conv": _conv, "depthwise_conv": _conv, "separable_conv": _conv, "conv_transpose": _conv_transpose,
    "max_pool": _pool, "average_pool": _pool, "global_pool": _global_pool,
    "dense": _dense, "flatten": _flatten, "zero_padding": _zero_padding,
}


# -- walking a model -------------------------------------------------------------------
def _per_image(shape) -> int:
    if isinstance(shape, list):
        return sum(_per_image(s) for s in shape)
    if shape is None or any(s is None for s in shape[1:]):
        return 0
    return math.prod(shape[1:])


def _itemsize(layer) -> int:
    try:
        return np.dtype(layer.dtype).itemsize
    except TypeError:
        return 4


def explain_layer(layer) -> LayerExplanation:
    """Work out one (built, called) layer's numbers from its recorded shapes."""
    kind = type(layer).__name__
    try:
        out_shape = layer.output_shape
    except AttributeError:
        out_shape = None
    in_shape = layer.input_shape
    ex = LayerExplanation(layer.name, kind, in_shape, out_shape, itemsize=_itemsize(layer))
    ex.params = layer.count_params() if layer.built else 0
    ex.trainable_params = sum(w.size for w in layer.trainable_weights) if layer.built else 0
    ex.activations = _per_image(out_shape)
    ex.param_formula = _weights_formula(layer) if layer.built else "not built"
    rule = RULES.get(layer.kind)
    single = isinstance(in_shape, tuple) and isinstance(out_shape, tuple)
    if rule is not None and single:
        rule(layer, ex)
    elif layer._tracked:  # a custom layer or nested model: its parts do the work
        ex.children = _explain_sublayers(layer, [sub for sub in _sublayers(layer) if sub.input_shape is not None])
        ex.macs = sum(c.macs for c in ex.children)
        ex.im2col_values = sum(c.im2col_values for c in ex.children)
        ex.mac_formula = f"sum over its {len(ex.children)} sublayers = {ex.macs:,}"
        ex.param_formula = f"sum over its sublayers = {ex.params:,}"
    return ex


def _sublayers(layer):
    return [l for l in getattr(layer, "layers", None) or layer._tracked if l.kind != "input"]


def _explain_sublayers(container, sublayers) -> list[LayerExplanation]:
    """Each of ``container``'s sublayers explained; the pairs it runs as one Function say so."""
    explained = {id(sub): explain_layer(sub) for sub in sublayers}
    for layers, where in container.fused_groups():
        for layer in layers:
            if id(layer) in explained:
                explained[id(layer)].fusion = fusion_note(layers, where)
    return list(explained.values())


def _flatten_tree(items):
    for ex in items:
        yield ex
        yield from _flatten_tree(ex.children)


def explain_model(model) -> ModelExplanation:
    """All layers' numbers and the totals for one image (the model must be built)."""
    if not model.built:
        raise ValueError(f"Model '{model.name}' is not built: give it an Input, call it on data "
                         "or call build(input_shape) before explain().")
    layers = _explain_sublayers(model, _sublayers(model))
    weight_grad = input_grad = 0
    learning_below = False  # is there a trainable layer below this one?
    for ex in layers:
        leaves = [e for e in _flatten_tree([ex]) if not e.children] or [ex]
        for leaf in leaves:
            if leaf.trainable_params:
                weight_grad += leaf.macs
            if learning_below:
                input_grad += leaf.macs
            learning_below = learning_below or leaf.trainable_params > 0
    weights = model.weights
    itemsize = layers[0].itemsize if layers else 4
    acts = sum(ex.activations for ex in layers)
    cols = sum(ex.im2col_values for ex in layers)
    return ModelExplanation(
        name=model.name, layers=layers,
        params=int(sum(w.size for w in weights)),
        trainable_params=int(sum(w.size for w in weights if w.trainable)),
        param_bytes=int(sum(w.size * w.dtype.itemsize for w in weights)),
        trainable_bytes=int(sum(w.size * w.dtype.itemsize for w in weights if w.trainable)),
        forward_macs=sum(ex.macs for ex in layers), weight_grad_macs=weight_grad, input_grad_macs=input_grad,
        activation_values=acts, activation_bytes=acts * itemsize,
        im2col_values=cols, im2col_bytes=cols * itemsize,
    )


# -- printing ------------------------------------------------------------------------
def _si(n: float) -> str:
    """16,976,384 -> '17.0 M' (decimal prefixes, as FLOP counts are quoted)."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.1f} {prefix}"
    return f"{n:.0f} "


def _layer_lines(ex: LayerExplanation, indent: str = "") -> list[str]:
    lines = [f"{indent}{ex.name} ({ex.kind})   {format_shape(ex.input_shape)} → {format_shape(ex.output_shape)}"]
    pad = indent + "  "

    def field_lines(label, texts):
        for i, text in enumerate(texts):
            lines.append(f"{pad}{label if i == 0 else '':<15}{text}")

    field_lines("output size", ex.size_lines)
    field_lines("parameters", [ex.param_formula])
    field_lines("multiply-adds", [ex.mac_formula or ("not counted (elementwise: a few operations per value)"
                                                     if ex.params else "0 (no weights to multiply by)")])
    dims = ex.output_shape[1:] if isinstance(ex.output_shape, tuple) else ()
    values = f"{'·'.join(str(s) for s in dims)} = " if len(dims) > 1 else ""
    field_lines("activations", [f"{values}{ex.activations:,} values = "
                                f"{readable_bytes(ex.activations * ex.itemsize)} per image"])
    if ex.fusion:
        field_lines("fused", [ex.fusion])
    for child in ex.children:
        lines += _layer_lines(child, indent + "    ")
    return lines


def explain_lines(model, batch_size: int | None = None) -> list[str]:
    """The text ``Model.explain()`` prints."""
    e = explain_model(model)
    lines = [f'Model "{e.name}", explained for one image (1 MAC = one multiply and one add = 2 FLOP)', ""]
    for ex in e.layers:
        lines += _layer_lines(ex) + [""]
    frozen = e.params - e.trainable_params
    lines += [
        "Totals for one image",
        f"  parameters        {e.params:,} ({readable_bytes(e.param_bytes)}); trainable {e.trainable_params:,}, "
        f"frozen {frozen:,}",
        f"  forward pass      {e.forward_macs:,} multiply-adds = {e.forward_flops:,} FLOP "
        f"(≈ {_si(e.forward_flops)}FLOP), biases/activations/pooling not counted",
        f"  training step     forward {e.forward_macs:,} + dL/dW {e.weight_grad_macs:,} + dL/dx "
        f"{e.input_grad_macs:,} = {e.training_macs:,} multiply-adds (≈ {_si(2 * e.training_macs)}FLOP)",
        "                    (dL/dx is not needed below the lowest trainable layer; dL/dW not for frozen ones)",
        f"  activations       {e.activation_values:,} values = {readable_bytes(e.activation_bytes)} "
        "(every layer's output)",
        f"  training memory   + the im2col columns each Conv2D keeps for backward: {e.im2col_values:,} values "
        f"= {readable_bytes(e.im2col_bytes)}",
        "                    (with MINICNN_KERNELS=numpy; the default Numba kernels rebuild all but narrow ones)",
        f"                    and once per model: gradients {readable_bytes(e.trainable_bytes)} "
        "+ optimizer slots (Adam keeps 2 per trainable weight)",
    ]
    if batch_size:
        lines.append(f"  batch of {batch_size:<9} forward {_si(2 * e.forward_macs * batch_size)}FLOP, "
                     f"training step {_si(2 * e.training_macs * batch_size)}FLOP, activations + im2col "
                     f"{readable_bytes((e.activation_bytes + e.im2col_bytes) * batch_size)}")
    return lines


def print_explanation(model, batch_size=None, print_fn=None):
    emit = print_fn or print
    for line in explain_lines(model, batch_size):
        emit(line)
