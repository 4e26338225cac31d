"""``model.summary()``: the table Keras 3 prints, drawn with box characters.

    Model: "sequential"
    ┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━┓
    ┃ Layer (type)     ┃ Output Shape   ┃ Param # ┃
    ...
     Total params: 582,026 (2.22 MB)

Param counts are the sizes of each layer's weights; the memory in brackets is
their size in bytes in the weights' dtype.
"""
from __future__ import annotations

import textwrap

WIDTHS = (31, 22, 13)  # content widths of the three columns, as Keras draws them


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


def _rows_for(model):
    rows = []
    for layer in model.layers:
        try:
            shape = format_shape(layer.output_shape)
        except AttributeError:
            shape = "?"
        params = layer.count_params() if layer.built else 0
        rows.append((f"{layer.name} ({type(layer).__name__})", shape, f"{params:,}" if layer.built else "0 (unbuilt)"))
    return rows


def _line(left, mid, right, fill):
    return left + mid.join(fill * (w + 2) for w in WIDTHS) + right


def _wrap(text, width):
    """Wrap at spaces; a word too long for the column is cut with '…' (as Keras' table does)."""
    lines = textwrap.wrap(text, width, break_long_words=False) or [""]
    return [line if len(line) <= width else line[:width - 1] + "…" for line in lines]


def _cells(values, bar):
    wrapped = [_wrap(v, w) for v, w in zip(values, WIDTHS)]
    height = max(len(c) for c in wrapped)
    lines = []
    for i in range(height):
        parts = []
        for col, (cell, w) in enumerate(zip(wrapped, WIDTHS)):
            text = cell[i] if i < len(cell) else ""
            parts.append(" " + (text.rjust(w) if col == 2 else text.ljust(w)) + " ")
        lines.append(bar + bar.join(parts) + bar)
    return lines


def summary_lines(model) -> list[str]:
    lines = [f'Model: "{model.name}"']
    lines.append(_line("┏", "┳", "┓", "━"))
    lines += _cells(("Layer (type)", "Output Shape", "Param #"), "┃")
    lines.append(_line("┡", "╇", "┩", "━"))
    rows = _rows_for(model)
    for i, row in enumerate(rows):
        lines += _cells(row, "│")
        if i < len(rows) - 1:
            lines.append(_line("├", "┼", "┤", "─"))
    lines.append(_line("└", "┴", "┘", "─"))
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
    return lines


def print_summary(model, line_length=None, print_fn=None):
    emit = print_fn or print
    for line in summary_lines(model):
        emit(line)
