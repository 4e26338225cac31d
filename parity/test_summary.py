"""``summary()``: each layer's output shape and parameter count equal Keras', line by line.

Both tables are parsed into rows (a row may wrap over several text lines; rows
are separated by ``├``/``└`` rules). Layer names are not compared (both
libraries number them per process) and Keras shortens long type names with
'…'; the output shapes, parameter counts and the three totals lines are.
"""
from __future__ import annotations

import numpy as np
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


def _named_models(lib):
    """Small models with every name given, so the two tables can be compared character by character."""
    L = lib.layers
    inner = lib.Sequential([L.Dense(4, name="inner_dense"), L.Dense(2, name="inner_out")], name="inner")
    nested = lib.Sequential([lib.Input((3,)), inner, L.Dense(1, name="head")], name="outer")
    x = lib.Input((6, 6, 2), name="image")
    a = L.Conv2D(3, 3, padding="same", name="conv_a")(x)
    b = L.BatchNormalization(name="norm_b")(L.Conv2D(3, 1, name="conv_b")(x))
    merged = L.Add(name="sum")([a, b])
    graph = lib.Model(x, L.Dense(2, name="classes")(L.GlobalAveragePooling2D(name="pool")(merged)), name="graph")
    graph.get_layer("norm_b").trainable = False
    stack = lib.Sequential([lib.Input((5,)), L.Dense(7, name="hidden_layer_with_a_long_name"),
                            L.BatchNormalization(name="norm"), L.Dense(3, name="out")], name="stack")
    stack.get_layer("norm").trainable = False
    stack.compile(optimizer="adam", loss="mse")
    return {"nested": nested, "graph": graph, "stack": stack}


SUMMARY_OPTIONS = [  # (model, summary() arguments, train one step first: the optimizer's state counts too)
    ("nested", {"expand_nested": True, "show_trainable": True}, False),
    ("nested", {"expand_nested": True, "line_length": 60}, False),
    ("graph", {"show_trainable": True, "line_length": 76}, False),
    ("graph", {"line_length": 70, "positions": [0.25, 0.5, 0.7, 1.0]}, False),
    ("stack", {"show_trainable": True, "line_length": 64}, True),
    ("stack", {"layer_range": ("norm", "out"), "line_length": 72}, False),
]


def _summary_text_check(case, stats):
    keras, _ = keras_modules()
    name, options, train = case
    keras.utils.set_random_seed(0)  # the parity run enables TensorFlow's op determinism: fit needs a seed
    tables = []
    for lib in (mc, keras):
        model = _named_models(lib)[name]
        if train:
            model.fit(np.ones((4, 5), "float32"), np.ones((4, 3), "float32"), epochs=1, verbose=0)
        lines = []
        model.summary(print_fn=lambda text, line_break=None: lines.extend(text.rstrip("\n").split("\n")), **options)
        end = max(i for i, line in enumerate(lines) if " params: " in line)  # minicnn adds fusion notes below
        tables.append(lines[:end + 1])
    stats.equal(f"{name} summary({options}) line count", len(tables[0]), len(tables[1]))
    for i, (ours, theirs) in enumerate(zip(*tables)):
        stats.equal(f"{name} summary({options}) line {i}", ours, theirs)


ROWS.append(Row("summary", "summary() options, text equal (expand_nested, show_trainable, line_length, positions, "
                "layer_range, optimizer params)", _summary_text_check, SUMMARY_OPTIONS))


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_summary_matches_keras(row):
    row.run()
