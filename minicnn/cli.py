"""Command line: ``minicnn train`` trains the seed CIFAR-10 recipe.

The recipe (from the seed documents): scale pixels to [0, 1], hold out 20 % of
the training images for validation (shuffled with random_state 83), Adam with
learning rate 1e-3, batch 128, 20 epochs; then evaluate on all 10,000 test images.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _split(x, y, test_size, seed):
    """Shuffled train/validation split with a fixed seed (like sklearn's train_test_split)."""
    order = np.random.RandomState(seed).permutation(len(x))
    n_val = int(round(len(x) * test_size))
    val, train = order[:n_val], order[n_val:]
    return (x[train], y[train]), (x[val], y[val])


def train(args) -> int:
    import minicnn as mc  # noqa: PLC0415 - keep `minicnn --help` fast

    mc.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = mc.datasets.cifar10.load_data(args.data)
    if args.quick:
        x_train, y_train, x_test, y_test = x_train[::50], y_train[::50], x_test[::50], y_test[::50]
    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32") / 255.0
    (x_tr, y_tr), (x_val, y_val) = _split(x_train, y_train, 0.2, 83)
    model = mc.applications.cifar10_cnn()
    model.compile(optimizer=mc.optimizers.Adam(args.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    history = model.fit(x_tr, y_tr, batch_size=args.batch_size, epochs=args.epochs,
                        validation_data=(x_val, y_val), verbose=2 if not sys.stdout.isatty() else 1)
    wall = time.time() - start
    test_loss, test_acc = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    model.save_weights(out / "final.weights.h5")
    result = {"test_loss": test_loss, "test_accuracy": test_acc, "wall_time_s": wall,
              "train_images": len(x_tr), "history": history.history}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(f"test accuracy: {test_acc:.4f}  test loss: {test_loss:.4f}  wall time: {wall:.0f}s")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="minicnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the seed CIFAR-10 CNN")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--learning-rate", type=float, default=1e-3)
    t.add_argument("--out", default="runs/seed-cifar10")
    t.add_argument("--data", default=None, help="data set file or folder (default: search order in the README)")
    t.add_argument("--seed", type=int, default=83)
    t.add_argument("--quick", action="store_true", help="a 2%% subset, for smoke tests")
    t.set_defaults(func=train)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
