"""Precision, Recall and AUC on cases small enough to count by hand (Keras'
numbers for the same metrics are compared in parity/test_losses_metrics.py)."""
import numpy as np
import pytest

import minicnn as mc

TARGETS = np.array([[1], [1], [0], [0], [1]], "float32")
SCORES = np.array([[0.9], [0.4], [0.6], [0.1], [0.8]], "float32")  # at 0.5: TP 2, FP 1, FN 1, TN 1


def test_precision_and_recall_count_decisions_above_the_threshold():
    precision, recall = mc.metrics.Precision(), mc.metrics.Recall()
    for m in (precision, recall):
        m.update_state(TARGETS, SCORES)
    assert precision.result() == pytest.approx(2 / 3) and recall.result() == pytest.approx(2 / 3)
    several = mc.metrics.Recall(thresholds=[0.05, 0.5, 0.95])
    several.update_state(TARGETS, SCORES)
    assert several.result() == pytest.approx([1.0, 2 / 3, 0.0])


def test_sample_weights_weigh_each_decision_and_reset_starts_over():
    precision = mc.metrics.Precision()
    precision.update_state(TARGETS, SCORES, sample_weight=np.array([1, 1, 3, 1, 1], "float32"))
    assert precision.result() == pytest.approx(2 / 5)  # the false positive now counts three times
    precision.reset_state()
    assert precision.result() == 0.0


def test_auc_is_one_for_a_perfect_ranking_zero_for_a_reversed_one():
    perfect = mc.metrics.AUC()
    perfect.update_state(TARGETS, TARGETS * 0.8 + 0.1)
    reversed_ = mc.metrics.AUC()
    reversed_.update_state(TARGETS, 0.9 - TARGETS * 0.8)
    assert perfect.result() == pytest.approx(1.0) and reversed_.result() == pytest.approx(0.0)
    roc = mc.metrics.AUC(num_thresholds=1001)
    roc.update_state(TARGETS, SCORES)  # 5 of the 6 (positive, negative) pairs are ranked right
    assert roc.result() == pytest.approx(5 / 6, abs=1e-3)


def test_compile_accepts_keras_names_and_the_history_has_them():
    model = mc.Sequential([mc.Input((1,)), mc.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["auc", "precision", mc.metrics.Recall()])
    history = model.fit(SCORES, TARGETS, epochs=2, verbose=0)
    assert {"auc", "precision", "recall"} <= set(history.history)
    assert all(0.0 <= v <= 1.0 for k in ("auc", "precision", "recall") for v in history.history[k])


@pytest.mark.parametrize("make, message", [
    (lambda: mc.metrics.AUC(curve="XY"), "curve must be 'ROC' or 'PR'"),
    (lambda: mc.metrics.AUC(summation_method="simpson"), "summation_method must be"),
    (lambda: mc.metrics.AUC(num_thresholds=1), "num_thresholds must be > 1"),
    (lambda: mc.metrics.Precision(thresholds=1.5), r"thresholds must be in \[0, 1\], got 1.5"),
])
def test_bad_arguments_are_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
