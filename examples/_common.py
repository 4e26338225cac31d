"""What every example shares: its command line, where pictures go, and its claims.

Each example takes ``--quick`` (small data, few steps: seconds on a 2-core CPU;
this is how the tests run them) and ``--out FOLDER`` (where the PNGs and
``claims.json`` go; default ``examples/out/<example>``).

A *claim* is a fact an example demonstrates ("the naive loop and im2col agree
to 1e-6"). ``claim(name, value)`` prints it as a ``CLAIM name = value`` line and
``finish()`` writes all of them to ``claims.json``, so ``tests/test_examples.py``
can check what each example says instead of trusting it.

Importing this module also puts the repository root on ``sys.path``, so the
examples run from a fresh clone without installing minicnn.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

IN_NOTEBOOK = "ipykernel" in sys.modules  # opened as a notebook (Jupyter / VS Code cells)
if not IN_NOTEBOOK:
    matplotlib.use("Agg")  # a script only writes files: no window needed
import matplotlib.pyplot as plt  # noqa: E402,F401 - re-exported for the examples

_claims: dict = {}
_started = time.perf_counter()


def setup(name: str, description: str):
    """Parse ``--quick``/``--out`` (unknown arguments, e.g. Jupyter's, are ignored)."""
    parser = argparse.ArgumentParser(prog=name, description=description)
    parser.add_argument("--quick", action="store_true", help="small data and few steps (seconds, for CI)")
    parser.add_argument("--out", type=Path, default=ROOT / "examples" / "out" / name,
                        help="folder for the pictures and claims.json")
    args, _ = parser.parse_known_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.name = name
    _claims.clear()
    _claims["example"] = name
    _claims["quick"] = args.quick
    return args


def claim(name: str, value):
    """Record and print one checkable fact."""
    _claims[name] = value
    print(f"CLAIM {name} = {value}")
    return value


def picture(args, filename: str) -> Path:
    """The path for a PNG in the output folder, listed among the claims (for PNGs that a
    minicnn function such as ``mc.plots.plot_confusion_matrix`` writes itself)."""
    _claims.setdefault("pictures", []).append(filename)
    print(f"picture: {args.out / filename}")
    return args.out / filename


def save(fig, args, filename: str) -> Path:
    """Save a figure as PNG in the output folder and list it among the claims."""
    path = picture(args, filename)
    if fig.get_layout_engine() is None:  # figures made with layout="constrained" lay themselves out
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    if IN_NOTEBOOK:
        plt.show()  # in a notebook the picture also appears below the cell
    plt.close(fig)
    return path


def finish(args) -> None:
    """Write ``claims.json`` (with the wall time) into the output folder."""
    _claims["wall_s"] = round(time.perf_counter() - _started, 2)
    (args.out / "claims.json").write_text(json.dumps(_claims, indent=2, default=float))
    print(f"done in {_claims['wall_s']} s; claims in {args.out / 'claims.json'}")


def hold_out(x, y, n_val: int):
    """The last ``n_val`` of a (shuffled) training set as validation data, the rest for training:
    ``(x_train, y_train), (x_val, y_val)``. Validation comes from the training images, never from the
    test set, which stays unseen until the final evaluation."""
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


def cifar10_subset(n_train: int, n_test: int, seed: int = 0):
    """Random images of real CIFAR-10 (the stored set is sorted by class, so never take the first n),
    scaled to [0, 1] float32: ``(x_train, y_train), (x_test, y_test)``."""
    import minicnn as mc  # noqa: PLC0415 - after the sys.path line above

    (x_train, y_train), (x_test, y_test) = mc.datasets.cifar10.load_data()
    rng = np.random.default_rng(seed)
    tr = rng.choice(len(x_train), n_train, replace=False)
    te = rng.choice(len(x_test), n_test, replace=False)
    return ((x_train[tr].astype("float32") / 255.0, y_train[tr]),
            (x_test[te].astype("float32") / 255.0, y_test[te]))


MOBILENET_WEIGHTS = ROOT / "data" / "weights" / "mobilenet_1_0_25_224_tf_no_top.h5"


def mobilenet_parts(size: int, weights=MOBILENET_WEIGHTS):
    """``(prepare, base)`` for transfer learning on CIFAR-10 (examples 07 and 08).

    ``prepare`` upsamples 32×32 images (0..255) to size×size and maps them to [-1, 1], which is what
    MobileNet's ``preprocess_input`` does (x/127.5 − 1), written as layers so it is part of the model.
    ``base`` is MobileNet v1, alpha 0.25, without its ImageNet classifier; ``pooling='avg'`` turns its
    last feature map into one 256-vector per image. ``weights=None`` gives a random initialisation.
    """
    import minicnn as mc  # noqa: PLC0415 - after the sys.path line above

    prepare = mc.Sequential([mc.Input((32, 32, 3)), mc.layers.Resizing(size, size),
                             mc.layers.Rescaling(1 / 127.5, offset=-1.0)], name="prepare")
    base = mc.applications.MobileNet(alpha=0.25, include_top=False, input_shape=(size, size, 3), pooling="avg",
                                     weights=None if weights is None else str(weights))
    return prepare, base


def timed(fn, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls of ``fn`` (seconds): the least disturbed run."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
