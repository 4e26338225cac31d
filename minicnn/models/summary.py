"""``model.summary()``: the table Keras 3 prints, drawn with box characters.

    Model: "sequential"
    ┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━┓
    ┃ Layer (type)     ┃ Output Shape   ┃ Param # ┃
    ...
     Total params: 582,026 (2.22 MB)

Param counts are the sizes of each layer's weights; the memory in brackets is
their size in bytes in the weights' dtype. Once the optimizer has taken a step,
its state counts too ("Optimizer params": the slots, plus the step counter and
learning rate that Keras keeps as variables).

Keras' options work the same way: ``line_length`` and ``positions`` set the
column widths (``column_widths`` is the arithmetic Keras' table library does),
``show_trainable`` adds a Y/N column, ``expand_nested`` lists the layers of a
model used as a layer under it (``└``), ``layer_range`` prints a slice.

Below Keras' table and totals, one line per pair of layers that run as one
fused Function (``fused_groups``: a Sequential's Conv2D(relu) + MaxPooling2D,
a graph's convolution + BatchNormalization + ReLU), e.g.

     conv2d (Conv2D) + max_pooling2d (MaxPooling2D) run as one fused Function (minicnn/ops/conv_pool.py)
"""
from __future__ import annotations

import re
import shutil
import textwrap

# Where each column ends, as a fraction of the line, and the line's default
# length: three columns for a stack of layers, four ("Connected to") for a graph.
STACK_LAYOUT = ([0.45, 0.80, 1.0], 88)
GRAPH_LAYOUT = ([0.3, 0.56, 0.74, 1.0], 108)


def column_widths(positions, line_length) -> list[int]:
    """The text width of each column for a table ``line_length`` characters wide.

    Column i spans from positions[i-1] to positions[i] of the line. Each cell
    also has a space either side and the table a bar between and around the
    columns, so the total is too wide by 3·columns + 1: the excess is taken from
    the columns in turn, each giving its rounded share of what remains.
    """
    widths, end = [], 0
    for position in positions:
        width = int(position * line_length) - end
        if width < 4:
            raise ValueError(f"summary(): line_length={line_length} is too narrow for the table "
                             f"(a column would be {width} characters wide)")
        widths.append(width + 2)  # with its padding
        end += width
    excess = sum(widths) - (line_length - len(widths) - 1)
    shares_left = len(widths)
    for i in range(len(widths)):
        share = round(excess / shares_left)
        widths[i] -= share
        excess -= share
        shares_left -= 1
    return [w - 2 for w in widths]


def readable_bytes(n: float) -> str:
    """1672 -> '1.63 KB' (powers of 1024, two decimals, as Keras)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TB"


def format_shape(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(format_shape(s) for s in shape)
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def fusion_note(layers, where) -> str:
    """How ``summary()`` and ``explain()`` say that layers run as one Function (fused in ``where``)."""
    names = " + ".join(f"{layer.name} ({type(layer).__name__})" for layer in layers)
    return f"{names} run as one fused Function ({where})"


def _graph_nodes(model):
    """The model's own graph nodes, or None for a Sequential/subclassed model."""
    graph = getattr(model, "_graph", None)
    return graph["nodes"] if graph and graph["nodes"] else None


def is_graph_like(model) -> bool:
    """Keras adds a "Connected to" column when a functional model branches or merges."""
    nodes = _graph_nodes(model)
    if nodes is None:
        return False
    if any(len(n.input_tensors) > 1 for n in nodes):
        return True
    users = [n.layer for n in nodes]
    return len({id(layer) for layer in users}) < len(users)


def _connections(layer, nodes) -> str:
    """'conv2d[0][0], add[0][0]': producing layer[node index][tensor index] per input."""
    own = [n for n in layer._inbound_nodes if any(n is m for m in nodes)]
    parts = []
    for node in own:
        for t in node.input_tensors:
            if t.node is None:
                parts.append(f"{t.input_layer.name}[0][0]")
            else:
                producer = t.node.layer
                index = next(i for i, n in enumerate(producer._inbound_nodes) if n is t.node)
                parts.append(f"{producer.name}[{index}][{t.index}]")
    return ", ".join(parts) or "-"


def _row(layer, nodes, graph_like, show_trainable, prefix=""):
    try:
        shape = format_shape(layer.output_shape)
    except AttributeError:
        shape = "?"
    params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
    row = (f"{prefix}{layer.name} ({type(layer).__name__})", shape, params)
    if graph_like:
        row += (_connections(layer, nodes),)
    if show_trainable:
        row += (("Y" if layer.trainable else "N") if layer.weights else "-",)
    return row


def _rows_for(layers, nodes, graph_like, show_trainable, expand_nested, depth=0):
    """One row per layer; with ``expand_nested``, a nested model's layers below it."""
    rows = []
    for layer in layers:
        prefix = "   " * depth + "└ " if depth else ""
        rows.append(_row(layer, nodes, graph_like, show_trainable, prefix))
        inner = getattr(layer, "layers", None)
        if expand_nested and inner:
            rows += _rows_for(inner, nodes, graph_like, show_trainable, expand_nested, depth + 1)
    return rows


def _in_range(layers, layer_range):
    """Keras' ``layer_range=(first, last)``: names or regular expressions, both ends included."""
    if layer_range is None:
        return layers
    if len(layer_range) != 2:
        raise ValueError(f"summary(): layer_range must be (first, last), got {layer_range!r}")
    names = [layer.name for layer in layers]
    starts = [i for i, n in enumerate(names) if re.match(layer_range[0], n)]
    ends = [i for i, n in enumerate(names) if re.match(layer_range[1], n)]
    if not starts or not ends:
        missing = layer_range[0] if not starts else layer_range[1]
        raise ValueError(f"summary(): no layer matches {missing!r} in layer_range; the layers are {names}")
    return layers[starts[0]:ends[-1] + 1]


def _line(left, mid, right, fill, widths):
    return left + mid.join(fill * (w + 2) for w in widths) + right


def _wrap(text, width):
    """Wrap at spaces; a word too long for the column is cut with '…' (as Keras' table does)."""
    lines = textwrap.wrap(text, width, break_long_words=False) or [""]
    return [line if len(line) <= width else line[:width - 1] + "…" for line in lines]


def _aligned(text, width, how):
    if how == "right":
        return text.rjust(width)
    if how == "center":  # the odd space goes to the right
        left = (width - len(text)) // 2
        return " " * left + text + " " * (width - len(text) - left)
    return text.ljust(width)


def _cells(values, bar, widths, alignment):
    wrapped = [_wrap(v, w) for v, w in zip(values, widths)]
    height = max(len(c) for c in wrapped)
    lines = []
    for i in range(height):
        parts = [" " + _aligned(cell[i] if i < len(cell) else "", w, how) + " "
                 for cell, w, how in zip(wrapped, widths, alignment)]
        lines.append(bar + bar.join(parts) + bar)
    return lines


def summary_lines(model, line_length=None, positions=None, expand_nested=False, show_trainable=False,
                  layer_range=None) -> list[str]:
    """The text of ``model.summary(...)``, one string per line."""
    graph_like = is_graph_like(model)
    default_positions, default_length = GRAPH_LAYOUT if graph_like else STACK_LAYOUT
    header = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if graph_like else [])
    alignment = ["left", "left", "right"] + (["left"] if graph_like else [])
    positions = list(positions or default_positions)
    if show_trainable:
        default_length += 12
        positions = [p * 0.9 for p in positions] + [1.0]
        header.append("Trainable")
        alignment.append("center")
    line_length = line_length or min(default_length, shutil.get_terminal_size().columns - 4)
    widths = column_widths(positions, line_length)

    lines = [f'Model: "{model.name}"', _line("┏", "┳", "┓", "━", widths)]
    lines += _cells(header, "┃", widths, alignment)
    lines.append(_line("┡", "╇", "┩", "━", widths))
    nodes = _graph_nodes(model) if graph_like else None
    rows = _rows_for(_in_range(model.layers, layer_range), nodes, graph_like, show_trainable, expand_nested)
    for i, row in enumerate(rows):
        lines += _cells(row, "│", widths, alignment)
        if i < len(rows) - 1:
            lines.append(_line("├", "┼", "┤", "─", widths))
    lines.append(_line("└", "┴", "┘", "─", widths))
    lines += _totals(model)
    groups = model.fused_groups()
    if groups:
        lines.append("")
        lines += [" " + fusion_note(layers, where) for layers, where in groups]
    return lines


def _totals(model) -> list[str]:
    def total(count, size):
        return f"{count:,} ({readable_bytes(size)})"

    weights = model.weights if model.built else []
    trainable = [w for w in weights if w.trainable]
    frozen = [w for w in weights if not w.trainable]
    counts = {name: (sum(w.size for w in ws), sum(w.size * w.dtype.itemsize for w in ws))
              for name, ws in (("Trainable", trainable), ("Non-trainable", frozen))}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and optimizer.iterations > 0:
        slots = [a for s in optimizer.slots_for(model.trainable_weights) for a in s.values()]
        # Keras counts its step counter (int64) and learning rate (float32) as optimizer variables too
        counts["Optimizer"] = (2 + sum(a.size for a in slots), 8 + 4 + sum(a.nbytes for a in slots))
    lines = [f" Total params: {total(sum(c for c, _ in counts.values()), sum(b for _, b in counts.values()))}"]
    return lines + [f" {name} params: {total(*figures)}" for name, figures in counts.items()]


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    emit = print_fn or print
    for line in summary_lines(model, line_length, positions, expand_nested, show_trainable, layer_range):
        emit(line)
