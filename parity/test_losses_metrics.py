"""Losses (value and gradient) and 'accuracy' (as compile resolves it) against Keras.

Each loss is compared in three input styles:
* ``probs``: probabilities given directly (``from_logits=False``): both clip to
  [1e-7, 1 - 1e-7] and take logs;
* ``logits``: raw scores with ``from_logits=True``;
* ``activation``: probabilities fresh out of softmax/sigmoid with
  ``from_logits=False``; Keras then works from the logits it remembered on the
  tensor (``_keras_logits``), minicnn from ``keras_logits``. The gradient is taken
  with respect to the logits, through the activation.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

import minicnn as mc
from minicnn.autograd import Tensor

from .harness import DTYPES, Row, keras_modules

LOSSES = {  # name: (Keras/minicnn class, target style, final activation)
    "sparse_categorical_crossentropy": ("SparseCategoricalCrossentropy", "sparse", "softmax"),
    "categorical_crossentropy": ("CategoricalCrossentropy", "onehot", "softmax"),
    "binary_crossentropy": ("BinaryCrossentropy", "binary", "sigmoid"),
    "mean_squared_error": ("MeanSquaredError", "dense", None),
    "mean_absolute_error": ("MeanAbsoluteError", "dense", None),
}


@st.composite
def loss_case(draw):
    return (draw(st.integers(1, 8)), draw(st.integers(2, 10)), draw(st.sampled_from(DTYPES)),
            draw(st.integers(0, 2**31 - 1)), draw(st.booleans()))


def make_targets(style, n, k, rng, dtype, label_column=False):
    if style == "sparse":
        labels = rng.integers(0, k, n)
        return labels[:, None] if label_column else labels
    if style == "onehot":
        return np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    if style == "binary":
        return rng.integers(0, 2, (n, k)).astype(dtype)
    return rng.standard_normal((n, k)).astype(dtype)


def _loss_check(name, style):
    cls_name, target_style, activation = LOSSES[name]

    def check(case, stats):
        keras, tf = keras_modules()
        n, k, dtype, seed, label_column = case
        rng = np.random.default_rng(seed)
        y = make_targets(target_style, n, k, rng, dtype, label_column)
        z = rng.standard_normal((n, k)).astype(dtype) * 2
        if style == "probs":  # probabilities that did not come from an activation in the graph
            z = _probabilities(z, activation)
        from_logits = {"from_logits": style == "logits"} if activation else {}
        k_loss_fn = getattr(keras.losses, cls_name)(**from_logits, dtype=dtype)
        m_loss_fn = getattr(mc.losses, cls_name)(**from_logits)

        k_z = tf.constant(z)
        with tf.GradientTape() as tape:
            tape.watch(k_z)
            k_pred = getattr(keras.activations, activation)(k_z) if style == "activation" else k_z
            k_loss = k_loss_fn(tf.constant(y), k_pred)
        k_grad = tape.gradient(k_loss, k_z)

        m_z = Tensor(z.copy(), requires_grad=True)
        m_pred = getattr(mc.activations, activation)(m_z) if style == "activation" else m_z
        m_loss = m_loss_fn(y, m_pred)
        m_loss.backward()
        stats.compare("loss value", m_loss.numpy(), k_loss.numpy(), dtype)
        stats.compare("gradient wrt predictions", m_z.grad, k_grad.numpy(), dtype, "grad")
    return check


def _probabilities(z, activation):
    if activation == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-z))
    return z


ROWS = []
for _name, (_cls, _targets, _act) in LOSSES.items():
    for _style in (("probs", "logits", "activation") if _act else ("values",)):
        ROWS.append(Row("losses", f"{_name} ({_style})", _loss_check(_name, _style), loss_case(), examples=15))


# -- 'accuracy', resolved by compile() from the loss, as Keras does ---------------------------

ACCURACY_CASES = {  # row: (loss, target style, output activation, from_logits, reference)
    # reference "compile": Keras' own compile(metrics=['accuracy']) + evaluate
    "accuracy: integer labels": ("sparse_categorical_crossentropy", "sparse", "softmax", False, "compile"),
    "accuracy: integer labels, logits": ("sparse_categorical_crossentropy", "sparse", None, True, "compile"),
    "accuracy: one-hot labels": ("categorical_crossentropy", "onehot", "softmax", False, "compile"),
    "accuracy: binary labels (1 output)": ("binary_crossentropy", "binary1", "sigmoid", False, "compile"),
    "accuracy: regression (mse)": ("mean_squared_error", "onehot", None, False, "compile"),
    # deliberate differences (DIFFERENCES.md), checked against keras.metrics.binary_accuracy:
    # multi-label binary cross-entropy -> binary accuracy (Keras 3 picks categorical accuracy by shape),
    # and on logits the threshold is 0 (Keras keeps 0.5).
    "accuracy: multi-label binary (binary_accuracy)": ("binary_crossentropy", "binary", "sigmoid", False, 0.5),
    "accuracy: binary labels, logits (threshold 0)": ("binary_crossentropy", "binary", None, True, 0.0),
}


def _accuracy_check(label):
    loss_name, target_style, activation, from_logits, reference = ACCURACY_CASES[label]

    def check(case, stats):
        keras, tf = keras_modules()
        n, k, dtype, seed, label_column = case
        k = 1 if target_style == "binary1" else k
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, 5)).astype("float32")
        y = make_targets(target_style.rstrip("1"), n, k, rng, "float32", label_column)
        cls_name = LOSSES[loss_name][0]
        loss_kwargs = {"from_logits": True} if from_logits else {}
        k_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(k, activation=activation)])
        m_model = mc.Sequential([mc.Input((5,)), mc.layers.Dense(k, activation=activation)])
        k_model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in k_model.weights])
        m_model.set_weights(k_model.get_weights())
        k_model.compile(loss=getattr(keras.losses, cls_name)(**loss_kwargs), metrics=["accuracy"],
                        jit_compile=False)
        m_model.compile(loss=getattr(mc.losses, cls_name)(**loss_kwargs), metrics=["accuracy"])
        k_loss, k_acc = k_model.evaluate(x, y, batch_size=n, verbose=0)
        m_loss, m_acc = m_model.evaluate(x, y, batch_size=n, verbose=0)
        if reference != "compile":
            scores = k_model.predict(x, verbose=0)
            k_acc = float(np.mean(keras.metrics.binary_accuracy(y, scores, threshold=reference)))
        stats.compare("loss (evaluate)", m_loss, k_loss, "float32")
        stats.compare("accuracy", m_acc, k_acc, "float32")
    return check


ROWS += [Row("metrics", label, _accuracy_check(label), loss_case(), examples=4) for label in ACCURACY_CASES]


def _regression_metrics_check(case, stats):
    """compile(metrics=['mae', 'mse']) + evaluate, in both libraries, from the same weights."""
    keras, tf = keras_modules()
    n, k, _, seed, _ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)).astype("float32")
    y = rng.standard_normal((n, k)).astype("float32")
    k_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(k)])
    m_model = mc.Sequential([mc.Input((5,)), mc.layers.Dense(k)])
    k_model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in k_model.weights])
    m_model.set_weights(k_model.get_weights())
    k_model.compile(loss="mse", metrics=["mae", "mse"], jit_compile=False)
    m_model.compile(loss="mse", metrics=["mae", "mse"])
    k_logs = k_model.evaluate(x, y, batch_size=n, verbose=0, return_dict=True)
    m_logs = m_model.evaluate(x, y, batch_size=n, verbose=0, return_dict=True)
    assert sorted(m_logs) == sorted(k_logs), (m_logs, k_logs)
    for name in ("mae", "mse"):
        stats.compare(name, m_logs[name], k_logs[name], "float32")


ROWS.append(Row("metrics", "mae, mse (compile names)", _regression_metrics_check, loss_case(), examples=4))


def _top_k_check(case, stats):
    """Keras' top-k accuracies (k=5) against minicnn's, on scores with ties at the boundary."""
    keras, tf = keras_modules()
    n, k, _, seed, _ = case
    classes = k + 5
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, (n, classes)).astype("float32")  # few values: ties are common
    labels = rng.integers(0, classes, n)
    onehot = np.eye(classes, dtype="float32")[labels]
    k_sparse = np.asarray(keras.metrics.sparse_top_k_categorical_accuracy(labels, scores, k=5))
    k_dense = np.asarray(keras.metrics.top_k_categorical_accuracy(onehot, scores, k=5))
    stats.compare("sparse_top_k_categorical_accuracy", mc.metrics.sparse_top_k_categorical_accuracy(labels, scores),
                  k_sparse, "float32")
    stats.compare("top_k_categorical_accuracy", mc.metrics.top_k_categorical_accuracy(onehot, scores), k_dense,
                  "float32")


ROWS.append(Row("metrics", "top-k categorical accuracy (k=5, ties)", _top_k_check, loss_case(), examples=6))


def _metric_classes_check(case, stats):
    """The stateful metric classes, two batches with sample weights each, against Keras' classes."""
    keras, tf = keras_modules()
    n, k, _, seed, _ = case
    rng = np.random.default_rng(seed)
    labels = [rng.integers(0, k, n) for _ in range(2)]
    scores = [rng.standard_normal((n, k)).astype("float32") for _ in range(2)]
    binary = [rng.integers(0, 2, (n, k)).astype("float32") for _ in range(2)]
    weights = [rng.random(n).astype("float32") for _ in range(2)]
    cases = {  # name: (constructor arguments, targets, predictions)
        "BinaryAccuracy": ({"threshold": 0.0}, binary, scores),
        "CategoricalAccuracy": ({}, [np.eye(k, dtype="float32")[t] for t in labels], scores),
        "SparseCategoricalAccuracy": ({}, labels, scores),
        "SparseTopKCategoricalAccuracy": ({"k": 2}, labels, scores),
        "MeanAbsoluteError": ({}, scores[::-1], scores),
        "MeanSquaredError": ({}, scores[::-1], scores),
    }
    for name, (kwargs, targets, predictions) in cases.items():
        ours, theirs = getattr(mc.metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
        for t, p, w in zip(targets, predictions, weights):
            ours.update_state(t, p, sample_weight=w)
            theirs.update_state(t, p, sample_weight=w)
        stats.compare(name, ours.result(), float(theirs.result()), "float32")


ROWS.append(Row("metrics", "metric classes, weighted, two batches", _metric_classes_check, loss_case(), examples=4))


def _confusion_metrics_check(case, stats):
    """Precision, Recall and AUC (each option Keras has), two weighted batches, against Keras' classes."""
    keras, tf = keras_modules()
    n, k, _, seed, _ = case
    rng = np.random.default_rng(seed)
    targets = [rng.integers(0, 2, (n, k)).astype("float32") for _ in range(2)]
    logits = [rng.standard_normal((n, k)).astype("float32") * 2 for _ in range(2)]
    probabilities = [(1 / (1 + np.exp(-z))).astype("float32") for z in logits]
    weights = [rng.random(n).astype("float32") for _ in range(2)]
    cases = [  # (class name, constructor arguments, predictions)
        ("Precision", {}, probabilities), ("Precision", {"thresholds": [0.3, 0.7]}, probabilities),
        ("Precision", {"class_id": 1}, probabilities), ("Precision", {"top_k": 2}, probabilities),
        ("Recall", {}, probabilities), ("Recall", {"thresholds": [0.2, 0.5]}, probabilities),
        ("Recall", {"top_k": 1, "class_id": 0}, probabilities),
        ("AUC", {}, probabilities), ("AUC", {"curve": "PR"}, probabilities),
        ("AUC", {"summation_method": "minoring"}, probabilities),
        ("AUC", {"curve": "PR", "summation_method": "majoring"}, probabilities),
        ("AUC", {"multi_label": True}, probabilities), ("AUC", {"num_thresholds": 7}, probabilities),
        ("AUC", {"thresholds": [0.25, 0.5, 0.75]}, probabilities), ("AUC", {"from_logits": True}, logits),
    ]
    for name, kwargs, predictions in cases:
        ours, theirs = getattr(mc.metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
        for t, p, w in zip(targets, predictions, weights):
            ours.update_state(t, p, sample_weight=w)
            theirs.update_state(t, p, sample_weight=w)
        stats.compare(f"{name}({kwargs})", ours.result(), np.asarray(theirs.result()), "float32")


ROWS.append(Row("metrics", "Precision, Recall, AUC (ROC/PR, summations, top_k, class_id)", _confusion_metrics_check,
                loss_case(), examples=6))


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_loss_or_metric_matches_keras(row):
    row.run()
