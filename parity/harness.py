"""The machinery every parity check shares: Keras import, error measure, rows.

A *row* is one line of the parity report (a layer, a loss, an optimizer, a
model ...). It runs one or many *cases* (hypothesis draws them where the
configuration space is large) and each case *compares* minicnn's numbers with
Keras' through ``Stats.compare``, which keeps the worst error seen and raises
``AssertionError`` when an error exceeds its tolerance. pytest runs each row as
one test; ``python -m parity`` runs the same rows and prints the table, so the
two can never disagree about what was checked.

Error measure (robust near zero, unlike elementwise relative error):

    err(a, b) = max|a - b| / max(max|b|, tiny)        (b is Keras' value)

Tolerances (never widened to make a case pass; find the difference instead):
float64 1e-9 everywhere; float32 1e-5 on forward outputs and losses, 1e-4 on
gradients, optimizer trajectories and trained weights.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

TOLERANCE = {
    ("float64", "forward"): 1e-9,
    ("float64", "grad"): 1e-9,
    ("float32", "forward"): 1e-5,
    ("float32", "grad"): 1e-4,
}
DTYPES = ("float32", "float64")
TINY = np.finfo(np.float64).tiny


class TensorFlowMissing(RuntimeError):
    """Raised when TensorFlow/Keras is not installed (the parity suite needs them)."""


_modules = {}


def keras_modules():
    """Import TensorFlow and Keras once, deterministic and single-threaded.

    oneDNN is switched off so that TensorFlow's CPU kernels do plain float
    arithmetic (it may reorder reductions otherwise). Raises
    ``TensorFlowMissing`` with the install command when TensorFlow is absent.
    """
    if not _modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        try:
            import tensorflow as tf  # noqa: PLC0415 - imported once, on first use
            import keras  # noqa: PLC0415
        except ImportError as exc:
            raise TensorFlowMissing(
                f"The parity suite compares minicnn with TensorFlow/Keras, which are not installed ({exc}). "
                "Install them with: pip install -e '.[test]'"
            ) from None
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow was already initialised by someone else
            pass
        tf.config.experimental.enable_op_determinism()
        tf.get_logger().setLevel("ERROR")  # no retracing chatter: each case builds fresh Keras models
        _modules.update(tf=tf, keras=keras)
    return _modules["keras"], _modules["tf"]


def rel_err(a, b) -> float:
    """max|a - b| / max(max|b|, tiny): the report's error measure (b is the reference)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), TINY))


@dataclasses.dataclass
class Stats:
    """What a row saw: cases run and the worst forward/gradient errors."""

    name: str
    cases: int = 0
    worst_forward: float = 0.0
    worst_grad: float = 0.0

    def compare(self, what, mine, keras, dtype, kind="forward"):
        """Compare minicnn's ``mine`` with Keras' ``keras``; raise when over tolerance."""
        err = rel_err(mine, keras)
        if kind == "forward":
            self.worst_forward = max(self.worst_forward, err)
        else:
            self.worst_grad = max(self.worst_grad, err)
        tol = TOLERANCE[(np.dtype(dtype).name, kind)]
        if not err <= tol:
            raise AssertionError(
                f"{self.name}: {what} differs from Keras: relative error {err:.3g} > {tol:g} ({dtype}); "
                f"shapes minicnn {np.shape(mine)} / keras {np.shape(keras)}"
            )

    def equal(self, what, mine, keras):
        """Exact agreement (shapes, parameter counts, summary lines)."""
        if mine != keras:
            raise AssertionError(f"{self.name}: {what} differs: minicnn {mine!r} vs Keras {keras!r}")


@dataclasses.dataclass
class Row:
    """One report line: ``check(case, stats)`` run on each case.

    ``cases`` is a hypothesis strategy (drawn ``examples`` times) or a list of
    fixed cases.
    """

    section: str
    name: str
    check: object
    cases: object = (None,)
    examples: int = 25

    def run(self) -> Stats:
        """Run every case; on disagreement the AssertionError carries ``.stats`` (for the report)."""
        stats = Stats(self.name)
        try:
            self._run(stats)
        except AssertionError as exc:
            exc.stats = stats
            raise
        return stats

    def _run(self, stats):
        if isinstance(self.cases, (list, tuple)):
            for case in self.cases:
                stats.cases += 1
                self.check(case, stats)
            return
        from hypothesis import HealthCheck, given, settings  # noqa: PLC0415

        @settings(max_examples=_examples(self.examples), deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @given(self.cases)
        def prop(case):
            stats.cases += 1
            self.check(case, stats)

        prop()

    @property
    def id(self) -> str:
        return self.name


def _examples(default: int) -> int:
    """``PARITY_EXAMPLES`` scales every row's hypothesis budget (e.g. 200 for a deep run)."""
    scale = os.environ.get("PARITY_EXAMPLES")
    return max(1, int(scale)) if scale else default


def random_weights(layer, rng):
    """Random values for a Keras layer's weights (variances positive, for BatchNorm)."""
    values = []
    for w in layer.weights:
        shape = tuple(w.shape)
        if "variance" in w.name:
            values.append(rng.uniform(0.5, 1.5, shape))
        else:
            values.append(rng.uniform(-1.0, 1.0, shape))
    return [v.astype(np.dtype(w.dtype)) for v, w in zip(values, layer.weights)]
