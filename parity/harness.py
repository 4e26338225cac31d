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
gradients, optimizer trajectories and trained weights (a row with another
bound states it and its reason).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os

import numpy as np

import minicnn as mc

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


@contextlib.contextmanager
def floatx(dtype):
    """Build and run models of both libraries in ``dtype`` for the block.

    Keras caches its global dtype policy on first use, so setting floatx alone
    is not enough: the policy is set too, and both are restored afterwards.
    """
    keras, _ = keras_modules()
    old = (keras.config.floatx(), keras.config.dtype_policy(), mc.backend.floatx())
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    mc.backend.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(old[0])
        keras.config.set_dtype_policy(old[1])
        mc.backend.set_floatx(old[2])


def rel_err(a, b) -> float:
    """max|a - b| / max(max|b|, tiny): the report's error measure (b is the reference)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), TINY))


# What a row compared, in the report's "compares" column: values within a tolerance
# (forward outputs, gradients, training steps) and things that must be equal exactly.
KINDS = {"forward": "fwd", "grad": "grad", "steps": "steps"}
EXACT = "exact"


@dataclasses.dataclass
class Stats:
    """What a row saw: cases run, what it compared, and the worst errors.

    ``worst_forward`` / ``worst_grad`` stay ``None`` until a value of that kind
    is compared, so the report can say "—" (nothing compared) rather than a
    misleading 0. ``worst_grad`` covers gradients and training steps
    (optimizer trajectories, trained weights); ``compared`` says which.
    ``notes`` and ``figures`` are what a row states besides its errors (a
    bound and its reason, the worst drift ratio over the cases ...).
    """

    name: str
    cases: int = 0
    worst_forward: float | None = None
    worst_grad: float | None = None
    compared: set = dataclasses.field(default_factory=set)
    notes: list = dataclasses.field(default_factory=list)
    figures: dict = dataclasses.field(default_factory=dict)

    def compare(self, what, mine, keras, dtype, kind="forward", tol=None):
        """Compare minicnn's ``mine`` with Keras' ``keras``; raise when over tolerance.

        ``kind`` is "forward", "grad" or "steps" (steps use the gradient
        tolerance); ``tol`` replaces the table's tolerance where a row states
        its own reason for another one.
        """
        self.record(what, rel_err(mine, keras), dtype, kind, tol, (np.shape(mine), np.shape(keras)))

    def record(self, what, err, dtype, kind="forward", tol=None, shapes=None):
        """Keep an error measured by the row itself and check it against the tolerance."""
        self.compared.add(KINDS[kind])
        if kind == "forward":
            self.worst_forward = max(self.worst_forward or 0.0, err)
        else:
            self.worst_grad = max(self.worst_grad or 0.0, err)
        if tol is None:
            tol = TOLERANCE[(np.dtype(dtype).name, "forward" if kind == "forward" else "grad")]
        if not err <= tol:
            where = "" if shapes is None else f"; shapes minicnn {shapes[0]} / keras {shapes[1]}"
            raise AssertionError(
                f"{self.name}: {what} differs from Keras: relative error {err:.3g} > {tol:g} ({dtype}){where}"
            )

    def equal(self, what, mine, keras):
        """Exact agreement (shapes, parameter counts, summary lines)."""
        self.compared.add(EXACT)
        if mine != keras:
            raise AssertionError(f"{self.name}: {what} differs: minicnn {mine!r} vs Keras {keras!r}")

    def note(self, text):
        """A sentence the report prints beside the row's result."""
        self.notes.append(text)

    def figure(self, name, value):
        """A measured figure printed beside the result: the largest over the row's cases."""
        self.figures[name] = max(self.figures.get(name, value), value)

    @property
    def compares(self) -> str:
        """The kinds compared, in a fixed order: "fwd, grad, steps, exact"."""
        order = [*KINDS.values(), EXACT]
        return ", ".join(k for k in order if k in self.compared) or "nothing"


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
