"""The parity suite's minicnn side on the GPU, against outputs saved on the CPU.

``parity/`` proves minicnn's CPU numbers equal Keras'. TensorFlow is not on the
GPU machine, so the GPU is held to the CPU instead: the CPU's outputs for a
fixed set of the parity suite's cases are recorded here, once, and the GPU
recomputes them and reports the error per case. CPU = Keras (parity) and
GPU = CPU (this file) together say GPU = Keras.

    python -m benchmarks.gpu.parity_outputs --record   # on the CPU: writes cpu_reference.npz
    python -m benchmarks.gpu.parity_outputs --check    # on any device: one JSON line of errors

The cases:

* every layer row of ``parity/test_layers.py``: ``CASES_PER_LAYER`` of the
  configurations (kwargs, input shapes, dtype, seed) its hypothesis strategy
  draws in the suite's 25 examples: the largest of each dtype with at most
  ``MAX_ELEMENTS`` input values (hypothesis starts with the smallest inputs,
  1x1 images, which exercise little), then the next largest. They are drawn
  once at recording time and stored in the file, so the device needs neither
  hypothesis nor the same draws. Forward output and the gradients of
  sum(output * R) for every input and trainable weight, as ``parity/compare.py``
  computes them (weights drawn with the parity suite's ``random_weights``);
* the models of ``parity/test_models.py`` (the seed CNNs): predictions in
  float32 and float64, then the same 20 float64 Adam steps (loss per epoch and
  predictions after training; the 582k trained weights would not fit a small
  file, the predictions depend on all of them); and the functional model with a
  branch and a merge (``reference_models.branchy``): predictions.

Inputs and weights are not stored: they are drawn again from each case's seed,
and a fingerprint (the sum of absolute values of every input, weight and
cotangent) is stored instead. A device whose NumPy draws other numbers says so
instead of reporting a misleading error.

Error measure and tolerances are the parity suite's (``parity/harness.py``):
max|a - b| / max|b|, float32 1e-5 forward and 1e-4 for gradients and trained
values, float64 1e-9. The file is read with ``allow_pickle=False`` and its case
list with ``ast.literal_eval``: loading it runs no code.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import json
import sys
from pathlib import Path

import numpy as np

import minicnn as mc
from minicnn import backend
from minicnn.atomic_files import atomic_path
from minicnn.autograd import Tensor
from parity.harness import DTYPES, TOLERANCE, random_weights, rel_err
from parity.reference_models import branchy
from parity.test_models import BATCH_SIZE, BATCHES, EPOCHS, MODELS

REFERENCE = Path(__file__).with_name("cpu_reference.npz")
CASES_PER_LAYER = 3
DRAWN_PER_LAYER = 25  # the parity suite's examples per layer row
MAX_ELEMENTS = 2048  # input values per layer case: keeps the file near 1 MB
MODEL_SEED = 0
ADAM = {"learning_rate": 2**-10, "beta_1": 0.875, "beta_2": 1 - 2**-10}  # parity/test_models.py's
FINGERPRINT_TOL = 1e-12
# results compared with the forward tolerance; every other name (gradients, trained values) with the gradient one
FORWARD_RESULTS = ("output", "predictions", "loss_history")


# -- the cases ---------------------------------------------------------------------------------
def draw_layer_cases(per_layer=CASES_PER_LAYER) -> list[dict]:
    """``per_layer`` configurations of each parity layer row, picked from the suite's own draws."""
    from hypothesis import HealthCheck, Phase, given, settings  # noqa: PLC0415 - recording only

    from parity.test_layers import LAYER_CASES  # noqa: PLC0415 - recording only

    cases = []
    for label, strategy in sorted(LAYER_CASES.items()):
        if not hasattr(mc.layers, label.split("(")[0]):
            continue
        drawn = {}

        @settings(max_examples=DRAWN_PER_LAYER, derandomize=True, database=None, deadline=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(strategy)
        def collect(case):
            drawn.setdefault(repr(case), case)

        collect()
        for kwargs, shapes, dtype, seed in _largest(list(drawn.values()), per_layer):
            cases.append({"kind": "layer", "label": label, "kwargs": kwargs, "shapes": shapes,
                          "dtype": dtype, "seed": seed})
    return cases


def _elements(shapes) -> int:
    return sum(int(np.prod(s)) for s in (shapes if isinstance(shapes, list) else [shapes]))


def _largest(drawn, n):
    """The largest case of each dtype within ``MAX_ELEMENTS``, then the next largest, ``n`` in all."""
    fitting = sorted((c for c in drawn if _elements(c[1]) <= MAX_ELEMENTS), key=lambda c: -_elements(c[1]))
    picked = [next(c for c in fitting if c[2] == dtype) for dtype in DTYPES if any(c[2] == dtype for c in fitting)]
    picked += [c for c in fitting if c not in picked]
    return picked[:n]


def model_cases() -> list[dict]:
    return [{"kind": "model", "label": label, "dtype": dtype, "seed": MODEL_SEED}
            for label in (*MODELS, "branchy") for dtype in ("float32", "float64")]


# -- computing one case on the current device -------------------------------------------------
def layer_results(label, kwargs, shapes, dtype, seed):
    """({result name: NumPy array}, fingerprint) of one layer case on the current device."""
    rng = np.random.default_rng(seed)
    multi = isinstance(shapes, list)
    xs = [rng.standard_normal(s).astype(dtype) for s in (shapes if multi else [shapes])]
    layer = getattr(mc.layers, label.split("(")[0])(dtype=dtype, **kwargs)
    inputs = [Tensor(backend.to_device(x), requires_grad=True) for x in xs]

    def call(tensors):
        return layer(tensors if multi else tensors[0], training=False)

    with mc.no_grad():
        call([t.detach() for t in inputs])  # builds the weights
    weights = random_weights(layer, rng)
    layer.set_weights(weights)
    out = call(inputs)
    cotangent = rng.standard_normal(out.shape).astype(dtype)
    (out * Tensor(backend.to_device(cotangent))).sum().backward()
    grads = {f"grad_input_{i}": t for i, t in enumerate(inputs)}
    grads.update({f"grad_weight_{j}": w for j, w in enumerate(layer.trainable_weights)})
    results = {"output": backend.to_numpy(out.data)}
    results.update({name: np.zeros(t.shape, dtype) if t.grad is None else backend.to_numpy(t.grad)
                    for name, t in grads.items()})
    return results, _fingerprint([*xs, *weights, cotangent])


@contextlib.contextmanager
def _floatx(dtype):
    old = backend.floatx()
    backend.set_floatx(dtype)
    try:
        yield
    finally:
        backend.set_floatx(old)


def model_results(label, dtype, seed):
    """({result name: NumPy array}, fingerprint) of one model case on the current device."""
    if label == "branchy":
        build, input_shape, classes, loss = (lambda: branchy(mc)), (12, 10, 3), 4, None
    else:
        builder, _, loss_name, loss_kwargs = MODELS[label]
        build, input_shape, classes = builder, (32, 32, 3), 10
        loss = getattr(mc.losses, loss_name)(**loss_kwargs)
    rng = np.random.default_rng(seed)
    n = BATCHES * BATCH_SIZE
    x = rng.uniform(0, 1, (n, *input_shape)).astype(dtype)
    y = rng.integers(0, classes, n)
    with _floatx(dtype):
        mc.utils.set_random_seed(seed)
        model = build()
        fingerprint = _fingerprint([x, *model.get_weights()])
        results = {"predictions": model.predict(x, verbose=0)}
        if loss is not None and dtype == "float64":  # trained in float64 only, as parity/test_models.py says why
            model.compile(optimizer=mc.optimizers.Adam(**ADAM), loss=loss)
            history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=EPOCHS, shuffle=False, verbose=0).history
            results["loss_history"] = np.asarray(history["loss"], dtype=np.float64)
            results["predictions_after_training"] = model.predict(x, verbose=0)
    return {k: backend.to_numpy(v) for k, v in results.items()}, fingerprint


def _fingerprint(arrays) -> np.ndarray:
    return np.array([np.abs(backend.to_numpy(a).astype(np.float64)).sum() for a in arrays])


def compute(case):
    if case["kind"] == "layer":
        return layer_results(case["label"], case["kwargs"], case["shapes"], case["dtype"], case["seed"])
    return model_results(case["label"], case["dtype"], case["seed"])


# -- the reference file -----------------------------------------------------------------------
def record(path=REFERENCE, per_layer=CASES_PER_LAYER) -> int:
    """Compute every case on the CPU and write ``path`` atomically; returns the number of cases."""
    backend.set_device("cpu")
    cases = draw_layer_cases(per_layer) + model_cases()
    arrays = {}
    for i, case in enumerate(cases):
        results, fingerprint = compute(case)
        arrays[f"{i:03d}.fingerprint"] = fingerprint
        arrays.update({f"{i:03d}.{name}": value for name, value in results.items()})
    meta = {"recorded_with": "python -m benchmarks.gpu.parity_outputs --record", "numpy": np.__version__}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, cases=np.array(repr(cases)), meta=np.array(repr(meta)), **arrays)
    return len(cases)


def load_reference(path=REFERENCE):
    """(cases, meta, {case index: {name: array}}) from a file written by ``record``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            cases = ast.literal_eval(str(data["cases"]))
            meta = ast.literal_eval(str(data["meta"]))
            arrays = {}
            for key in data.files:
                if key[:3].isdigit():
                    index, name = key.split(".", 1)
                    arrays.setdefault(int(index), {})[name] = data[key]
    except (OSError, KeyError, ValueError, SyntaxError) as exc:
        raise ValueError(f"{path}: not a reference file written by "
                         f"'python -m benchmarks.gpu.parity_outputs --record' ({exc})") from None
    return cases, meta, arrays


def check_case(case, want: dict) -> dict:
    """Recompute one case on the current device: its worst forward and gradient errors, or why it could not."""
    row = {"label": case["label"], "dtype": case["dtype"], "kind": case["kind"], "forward": None, "grad": None}
    try:
        got, fingerprint = compute(case)
    except Exception as exc:  # noqa: BLE001 - one failing case is a finding; the others still run
        return {**row, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    if rel_err(fingerprint, want["fingerprint"]) > FINGERPRINT_TOL:
        return {**row, "ok": False, "error": "inputs or weights differ from the recorded ones (another NumPy "
                "random stream or initialiser): record the file again on the CPU"}
    expected = {k: v for k, v in want.items() if k != "fingerprint"}
    if set(got) != set(expected):
        return {**row, "ok": False, "error": f"results {sorted(got)} but the file holds {sorted(expected)}"}
    ok = True
    for name, value in expected.items():
        kind = "forward" if name in FORWARD_RESULTS else "grad"
        err = rel_err(got[name], value)
        row[kind] = max(row[kind] or 0.0, err)
        ok = ok and err <= TOLERANCE[(case["dtype"], kind)]
    return {**row, "ok": ok}


def check(path=REFERENCE) -> dict:
    """Every recorded case recomputed on the current device (``MINICNN_DEVICE``)."""
    cases, meta, arrays = load_reference(path)
    rows = [check_case(case, arrays.get(i, {})) for i, case in enumerate(cases)]
    return {"device": backend.get_device(), "reference": Path(path).name, "recorded": meta, "rows": rows,
            "tolerance": {f"{d} {k}": t for (d, k), t in TOLERANCE.items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu.parity_outputs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--record", action="store_true", help="compute the cases on the CPU and write the file")
    action.add_argument("--check", action="store_true", help="recompute them here; print one JSON line")
    parser.add_argument("--file", type=Path, default=REFERENCE, help=f"default {REFERENCE.name} beside this file")
    args = parser.parse_args(argv)
    if args.record:
        n = record(args.file)
        print(f"{n} cases written to {args.file} ({args.file.stat().st_size / 1e6:.2f} MB)")
        return 0
    result = check(args.file)
    print(json.dumps(result))
    return 0 if all(row["ok"] for row in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
