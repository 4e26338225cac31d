"""Metrics from counts of right and wrong yes/no decisions: ``Precision``,
``Recall`` and ``AUC`` (Keras' ``confusion_metrics``).

A prediction ``p`` says "positive" at a threshold ``t`` when ``p > t``. Over an
epoch each metric adds up, per threshold, four (weighted) counts against the
targets (a target is positive when it is non-zero):

    true positives  TP: said positive, was positive
    false positives FP: said positive, was negative
    false negatives FN: said negative, was positive
    true negatives  TN: said negative, was negative

    precision = TP / (TP + FP)   "of what I flagged, how much was right"
    recall    = TP / (TP + FN)   "of what was there, how much I found"

(0 when nothing was flagged or nothing was there, as Keras' ``divide_no_nan``.)

AUC sweeps the threshold from just below 0 to just above 1 and measures the
area under the curve those counts trace: the ROC curve (recall against the
false-positive rate FP / (FP + TN)) or the PR curve (precision against
recall). Between two thresholds the curve is a straight line ('interpolation',
Keras' default: the trapezoid rule; for PR, the Davis & Goadrich rule that
interpolates TP and FP rather than precision itself), or a step at the lower
('minoring') or higher ('majoring') of its two ends.
"""
from __future__ import annotations

from ..autograd import as_tensor
from ..backend import get_array_module

EPSILON = 1e-7  # Keras' thresholds start at 0 - ε and end at 1 + ε, so p = 0 and p = 1 fall inside


def _safe_ratio(num, den):
    """num / den, 0 where den is 0."""
    xp = get_array_module(num, den)
    return xp.where(den > 0, num / xp.where(den > 0, den, 1), 0.0)


class ConfusionCounts:
    """TP, FP, FN, TN at each threshold, summed over batches (on the data's device).

    ``per_label`` keeps one column of counts per class (the last axis);
    otherwise every value of every sample counts in one column.
    """

    def __init__(self, name, thresholds, per_label=False, class_id=None, top_k=None):
        self.name, self.thresholds = name, list(thresholds)
        self.per_label, self.class_id, self.top_k = per_label, class_id, top_k
        self.reset_state()

    def reset_state(self):
        self.tp = self.fp = self.fn = self.tn = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = as_tensor(y_pred).data
        xp = get_array_module(y_pred)
        y_true = xp.asarray(as_tensor(y_true).data).reshape(y_pred.shape) != 0
        weight = xp.ones(y_pred.shape, "float64")
        if sample_weight is not None:  # one per sample, or one per sample and class
            sample_weight = xp.asarray(as_tensor(sample_weight).data, "float64")
            if sample_weight.ndim == 1 and sample_weight.shape[0] == y_pred.shape[0]:
                sample_weight = sample_weight.reshape((-1,) + (1,) * (y_pred.ndim - 1))
            weight = weight * sample_weight
        if self.top_k is not None:  # only each sample's k highest scores may say "positive"
            kth = xp.sort(y_pred, axis=-1)[..., -self.top_k][..., None]
            y_pred = xp.where(y_pred >= kth, y_pred, -xp.inf)
        if self.class_id is not None:
            y_true, y_pred, weight = (a[..., self.class_id:self.class_id + 1] for a in (y_true, y_pred, weight))
        columns = y_pred.shape[-1] if self.per_label else 1
        y_true, y_pred, weight = (a.reshape(-1, columns) for a in (y_true, y_pred, weight))
        # said[t, i, c]: value i of column c is called positive at threshold t
        said = y_pred[None] > xp.asarray(self.thresholds, y_pred.dtype)[:, None, None]
        positive, negative = weight * y_true, weight * ~y_true
        self.tp = self.tp + (said * positive).sum(axis=1)
        self.fp = self.fp + (said * negative).sum(axis=1)
        self.fn = self.fn + (~said * positive).sum(axis=1)
        self.tn = self.tn + (~said * negative).sum(axis=1)

    def result(self):
        """The metric over everything seen since the last reset (0 before any batch)."""
        return 0.0 if isinstance(self.tp, float) else self._value()

    def _results(self, values):
        """One float, or a list for a list of thresholds (as Keras returns)."""
        values = [float(v) for v in get_array_module(values).asarray(values).reshape(-1)]
        return values[0] if len(values) == 1 else values


class Precision(ConfusionCounts):
    """``keras.metrics.Precision``: TP / (TP + FP) at ``thresholds`` (0.5 by
    default; a list gives a list), optionally for one ``class_id`` or among each
    sample's ``top_k`` scores."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision", dtype=None):
        super().__init__(name, _decision_thresholds(thresholds, top_k), class_id=class_id, top_k=top_k)

    def _value(self):
        return self._results(_safe_ratio(self.tp, self.tp + self.fp))


class Recall(ConfusionCounts):
    """``keras.metrics.Recall``: TP / (TP + FN), with Precision's arguments."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        super().__init__(name, _decision_thresholds(thresholds, top_k), class_id=class_id, top_k=top_k)

    def _value(self):
        return self._results(_safe_ratio(self.tp, self.tp + self.fn))


def _decision_thresholds(thresholds, top_k):
    if thresholds is None:
        return [0.5 if top_k is None else float("-inf")]
    thresholds = [thresholds] if isinstance(thresholds, (int, float)) else list(thresholds)
    for t in thresholds:
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"Precision/Recall: thresholds must be in [0, 1], got {t}")
    return thresholds


class AUC(ConfusionCounts):
    """``keras.metrics.AUC``: the area under the ROC or PR curve, approximated at
    ``num_thresholds`` evenly spaced thresholds (or the given ``thresholds``).

    ``from_logits=True`` applies the sigmoid first; ``multi_label=True`` computes
    one AUC per class (last axis) and averages them, weighted by
    ``label_weights`` if given.
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name="auc", dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if curve.upper() not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError("AUC: summation_method must be 'interpolation', 'minoring' or 'majoring', "
                             f"got {summation_method!r}")
        if thresholds is None:
            if num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be > 1, got {num_thresholds}")
            thresholds = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        thresholds = [0.0 - EPSILON] + sorted(thresholds) + [1.0 + EPSILON]
        super().__init__(name, thresholds, per_label=multi_label)
        self.curve, self.summation_method = curve.upper(), summation_method
        self.label_weights, self.from_logits = label_weights, from_logits

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.from_logits:
            y_pred = as_tensor(y_pred).data
            xp = get_array_module(y_pred)
            y_pred = 1 / (1 + xp.exp(-y_pred))
        if self.label_weights is not None and not self.per_label:  # Keras: a weight per class in the counts
            xp = get_array_module(as_tensor(y_pred).data)
            label_weights = xp.asarray(self.label_weights, "float64")
            sample_weight = label_weights if sample_weight is None else (
                xp.asarray(as_tensor(sample_weight).data, "float64").reshape(-1, 1) * label_weights)
        super().update_state(y_true, y_pred, sample_weight)

    def _value(self):
        xp = get_array_module(self.tp)
        tp, fp, fn, tn = self.tp, self.fp, self.fn, self.tn
        recall = _safe_ratio(tp, tp + fn)
        if self.curve == "PR" and self.summation_method == "interpolation":
            area = self._interpolated_pr_area()
        else:
            x, y = (_safe_ratio(fp, fp + tn), recall) if self.curve == "ROC" else (recall, _safe_ratio(tp, tp + fp))
            heights = {"interpolation": (y[:-1] + y[1:]) / 2, "minoring": xp.minimum(y[:-1], y[1:]),
                       "majoring": xp.maximum(y[:-1], y[1:])}[self.summation_method]
            area = ((x[:-1] - x[1:]) * heights).sum(axis=0)  # thresholds rise, so x falls: widths >= 0
        if self.label_weights is None or not self.per_label:
            return float(area.mean())
        weights = xp.asarray(self.label_weights, "float64")
        return float(_safe_ratio((area * weights).sum(), weights.sum()))

    def _interpolated_pr_area(self):
        """Davis & Goadrich: between thresholds A and B, TP and P = TP + FP move in
        a straight line, so precision TP/P follows TP_A + slope·(P - P_A) over P,
        whose integral over recall has the closed form summed here."""
        xp = get_array_module(self.tp)
        tp, p = self.tp, self.tp + self.fp
        d_tp, d_p = tp[:-1] - tp[1:], p[:-1] - p[1:]
        slope = _safe_ratio(d_tp, xp.maximum(d_p, 0))
        intercept = tp[1:] - slope * p[1:]
        both_positive = (p[:-1] > 0) & (p[1:] > 0)
        p_ratio = xp.where(both_positive, _safe_ratio(p[:-1], xp.maximum(p[1:], 0)), 1.0)
        increments = _safe_ratio(slope * (d_tp + intercept * xp.log(p_ratio)), xp.maximum(tp[1:] + self.fn[1:], 0))
        return increments.sum(axis=0)
