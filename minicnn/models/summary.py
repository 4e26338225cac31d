"""``model.summary()``: the table Keras 3 prints, drawn with box characters.

    Model: "sequential"
    ┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━┓
    ┃ Layer (type)     ┃ Output Shape   ┃ Param # ┃
    ...
     Total params: 582,026 (2.22 MB)

Param counts are the sizes of each layer's weights; the memory in brackets is
their size in bytes in the weights' dtype.

Below Keras' table and totals, one line per pair of layers that run as one
fused Function (``fused_groups``: a Sequential's Conv2D(relu) + MaxPooling2D,
a graph's convolution + BatchNormalization + ReLU), e.g.

     conv2d (Conv2D) + max_pooling2d (MaxPooling2D) run as one fused Function (minicnn/ops/conv_pool.py)
"""
from __future__ import annotations

import textwrap

# Content widths of the columns as Keras draws them in an 80-column console:
# three columns for a stack of layers, four ("Connected to") for a real graph.
WIDTHS = (31, 22, 13)
GRAPH_WIDTHS = (19, 17, 10, 17)


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


def _rows_for(model, graph_like):
    nodes = _graph_nodes(model) if graph_like else None
    rows = []
    for layer in model.layers:
        try:
            shape = format_shape(layer.output_shape)
        except AttributeError:
            shape = "?"
        params = layer.count_params() if layer.built else 0
        row = (f"{layer.name} ({type(layer).__name__})", shape, f"{params:,}" if layer.built else "0 (unbuilt)")
        rows.append(row + (_connections(layer, nodes),) if graph_like else row)
    return rows


def _line(left, mid, right, fill, widths):
    return left + mid.join(fill * (w + 2) for w in widths) + right


def _wrap(text, width):
    """Wrap at spaces; a word too long for the column is cut with '…' (as Keras' table does)."""
    lines = textwrap.wrap(text, width, break_long_words=False) or [""]
    return [line if len(line) <= width else line[:width - 1] + "…" for line in lines]


def _cells(values, bar, widths):
    wrapped = [_wrap(v, w) for v, w in zip(values, widths)]
    height = max(len(c) for c in wrapped)
    lines = []
    for i in range(height):
        parts = []
        for col, (cell, w) in enumerate(zip(wrapped, widths)):
            text = cell[i] if i < len(cell) else ""
            parts.append(" " + (text.rjust(w) if col == 2 else text.ljust(w)) + " ")
        lines.append(bar + bar.join(parts) + bar)
    return lines


def summary_lines(model) -> list[str]:
    lines = [f'Model: "{model.name}"']
    graph_like = is_graph_like(model)
    widths = GRAPH_WIDTHS if graph_like else WIDTHS
    header = ("Layer (type)", "Output Shape", "Param #") + (("Connected to",) if graph_like else ())
    lines.append(_line("┏", "┳", "┓", "━", widths))
    lines += _cells(header, "┃", widths)
    lines.append(_line("┡", "╇", "┩", "━", widths))
    rows = _rows_for(model, graph_like)
    for i, row in enumerate(rows):
        lines += _cells(row, "│", widths)
        if i < len(rows) - 1:
            lines.append(_line("├", "┼", "┤", "─", widths))
    lines.append(_line("└", "┴", "┘", "─", widths))
    weights = model.weights if model.built else []
    trainable = [w for w in weights if w.trainable]
    frozen = [w for w in weights if not w.trainable]

    def total(ws):
        count = sum(w.size for w in ws)
        size = sum(w.size * w.dtype.itemsize for w in ws)
        return f"{count:,} ({readable_bytes(size)})"

    lines.append(f" Total params: {total(weights)}")
    lines.append(f" Trainable params: {total(trainable)}")
    lines.append(f" Non-trainable params: {total(frozen)}")
    groups = model.fused_groups()
    if groups:
        lines.append("")
        lines += [" " + fusion_note(layers, where) for layers, where in groups]
    return lines


def print_summary(model, line_length=None, print_fn=None):
    emit = print_fn or print
    for line in summary_lines(model):
        emit(line)
