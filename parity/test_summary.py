"""``summary()``: each layer's output shape and parameter count equal Keras', line by line.

Both tables are parsed into rows (a row may wrap over several text lines; rows
are separated by ``├``/``└`` rules). Layer names are not compared (both
libraries number them per process) and Keras shortens long type names with
'…'; the output shapes, parameter counts and the three totals lines are.
"""
from __future__ import annotations

import pytest

import minicnn as mc
from minicnn.models.summary import summary_lines

from .harness import Row, keras_modules
from .reference_models import branchy, keras_cifar10_cnn, keras_tf_tutorial_cnn

MODELS = {
    "summary: cifar10_cnn": (mc.applications.cifar10_cnn, keras_cifar10_cnn),
    "summary: tf_tutorial_cnn": (mc.applications.tf_tutorial_cnn, keras_tf_tutorial_cnn),
    "summary: functional (Add, Concatenate)": (lambda: branchy(mc), lambda: branchy(keras_modules()[0])),
}


def table_rows(lines):
    """[(output shape, params)] from a summary's text, and its totals lines."""
    rows, current = [], None
    for line in lines:
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            current = cells if current is None else [a + b for a, b in zip(current, cells)]
        elif current is not None and line[:1] in ("├", "└"):
            rows.append((current[1].replace(" ", ""), current[2]))
            current = None
    totals = [line.strip() for line in lines if line.strip().split(" params:")[0] in
              ("Total", "Trainable", "Non-trainable")]
    return rows, totals


def _summary_check(label):
    make_mc, make_keras = MODELS[label]

    def check(_, stats):
        keras_lines = []
        make_keras().summary(print_fn=lambda text, line_break=None: keras_lines.extend(text.split("\n")))
        m_rows, m_totals = table_rows(summary_lines(make_mc()))
        k_rows, k_totals = table_rows(keras_lines)
        if not k_rows or not k_totals:
            raise AssertionError(f"{label}: could not read Keras' summary table:\n" + "\n".join(keras_lines))
        stats.equal("number of rows", len(m_rows), len(k_rows))
        for i, (m, k) in enumerate(zip(m_rows, k_rows)):
            stats.equal(f"row {i} (output shape, params)", m, k)
        stats.equal("totals", m_totals, k_totals)
    return check


ROWS = [Row("summary", label, _summary_check(label), [None]) for label in MODELS]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_summary_matches_keras(row):
    row.run()
