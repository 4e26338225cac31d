"""Command line: ``minicnn train | evaluate | predict``.

``minicnn train`` trains the seed CIFAR-10 recipe: scale pixels to [0, 1],
hold out 20 % of the training images for validation (shuffled with
random_state 83), Adam with learning rate 1e-3, batch 128, 20 epochs; then
evaluate on all 10,000 test images. Everything lands in the run folder:

    config.json          the settings (``evaluate``/``predict`` rebuild the model from it)
    checkpoint.npz       complete training state after the last epoch (``--resume``)
    best.weights.h5      weights of the best validation accuracy so far (Keras format)
    final.weights.h5     weights at the end
    history.csv/.json    loss and accuracy per epoch
    learning_curves.png  loss and accuracy, training vs validation
    confusion_matrix.png and result.json   test-set results

Ctrl-C stops after the current batch and saves a checkpoint that
``minicnn train --out RUN --resume`` continues exactly where it stopped.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from .atomic_files import atomic_path

DEFAULTS = {"epochs": 20, "batch_size": 128, "learning_rate": 1e-3, "augment": False, "seed": 83,
            "data": None, "quick": False, "limit": None}
QUICK_EPOCHS = 2
INTERRUPTED = 130  # the shell's code for "stopped by Ctrl-C"


def _split(x, y, test_size, seed):
    """Shuffled train/validation split with a fixed seed (like sklearn's train_test_split)."""
    order = np.random.RandomState(seed).permutation(len(x))
    n_val = int(round(len(x) * test_size))
    val, train = order[:n_val], order[n_val:]
    return (x[train], y[train]), (x[val], y[val])


def _evenly(x, y, n):
    """At most ``n`` samples spread over the whole array (the files are sorted by class)."""
    if n is None or n >= len(x):
        return x, y
    index = np.linspace(0, len(x) - 1, n).astype(int)
    return x[index], y[index]


def _load(config):
    """Train/validation/test arrays for a run's settings, scaled to [0, 1]."""
    import minicnn as mc  # noqa: PLC0415 - keep `minicnn --help` fast

    (x_train, y_train), (x_test, y_test) = mc.datasets.cifar10.load_data(config["data"])
    if config["quick"]:
        x_train, y_train, x_test, y_test = x_train[::50], y_train[::50], x_test[::50], y_test[::50]
    x_train, y_train = _evenly(x_train, y_train, config["limit"])
    x_test, y_test = _evenly(x_test, y_test, config["limit"])
    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32") / 255.0
    train, val = _split(x_train, y_train, 0.2, 83)
    return train, val, (x_test, y_test)


def build_model(config):
    """The seed CNN, compiled; with ``augment``, flips/shifts/zooms in front (training only)."""
    import minicnn as mc  # noqa: PLC0415

    model = mc.applications.cifar10_cnn()
    if config["augment"]:
        augmentation = [mc.layers.RandomFlip("horizontal"), mc.layers.RandomTranslation(0.1, 0.1),
                        mc.layers.RandomZoom(0.1)]
        model = mc.Sequential([mc.Input((32, 32, 3)), *augmentation, *model.layers], name="cifar10_cnn_augmented")
    model.compile(optimizer=mc.optimizers.Adam(config["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _write_json(path, data):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=2))


def _write_history(out: Path, history: dict):
    _write_json(out / "history.json", history)
    keys = sorted(history)
    with atomic_path(out / "history.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", *keys])
        for i in range(len(history[keys[0]]) if keys else 0):
            writer.writerow([i + 1, *(f"{history[k][i]:.6f}" for k in keys)])


def _plot_history(out: Path, history: dict):
    from .plots import plot_history  # noqa: PLC0415

    if history:
        plot_history(history, out / "learning_curves.png", title=f"minicnn: {out.name}")


PLOT_EVERY_S = 60  # drawing the curves takes about as long as validating: not after every short epoch


def _recorder(out, history, interrupted):
    """A callback that appends each finished epoch's logs to ``history`` and
    rewrites history.json/.csv; it redraws learning_curves.png when a minute
    has passed since the last drawing, and at the end of training."""
    from .callbacks import Callback  # noqa: PLC0415

    class RunRecorder(Callback):
        drawn_at = float("-inf")

        def on_epoch_end(self, epoch, logs=None):
            if interrupted():
                return
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            _write_history(out, history)
            if time.monotonic() - self.drawn_at >= PLOT_EVERY_S:
                _plot_history(out, history)
                self.drawn_at = time.monotonic()

        def on_train_end(self, logs=None):
            _plot_history(out, history)

    return RunRecorder()


def _resolve_config(args, out: Path) -> dict:
    saved = json.loads((out / "config.json").read_text()) if args.resume else {}
    config = {**DEFAULTS, **saved}
    for key in DEFAULTS:
        value = getattr(args, key, None)
        given = value is not None and value is not False  # 0 is a value (`--seed 0`); an unset switch is not
        if given:
            config[key] = value
    if config["quick"] and args.epochs is None and "epochs" not in saved:
        config["epochs"] = QUICK_EPOCHS
    return config


def train(args) -> int:
    import minicnn as mc  # noqa: PLC0415
    from .callbacks import ModelCheckpoint  # noqa: PLC0415
    from .io.checkpoint import ResumableBatches, TrainingCheckpoint, graceful_interrupt, restore_checkpoint  # noqa: PLC0415
    from .models.data import ArrayBatches  # noqa: PLC0415

    out = Path(args.out)
    ckpt = out / "checkpoint.npz"
    if args.resume and not ckpt.exists():
        raise SystemExit(f"minicnn train: --resume, but {ckpt} does not exist")
    if not args.resume and ckpt.exists():
        raise SystemExit(f"minicnn train: {out} already holds a run; add --resume to continue it "
                         "or choose another --out")
    config = _resolve_config(args, out)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "config.json", config)
    mc.utils.set_random_seed(config["seed"])
    (x_tr, y_tr), (x_val, y_val), (x_test, y_test) = _load(config)
    model = build_model(config)
    if not args.resume:
        model.summary()
    batches = ResumableBatches(ArrayBatches(x_tr, y_tr, config["batch_size"], shuffle=True))
    history, initial_epoch = {}, 0
    best = ModelCheckpoint(out / "best.weights.h5", monitor="val_accuracy", save_best_only=True)
    if args.resume:
        header = restore_checkpoint(ckpt, model)
        history, initial_epoch = header["extra"].get("history", {}), header["epoch"]
        batches.resume_at(header)
        best.best = max(history.get("val_accuracy", [-np.inf]))
        where = f"epoch {initial_epoch + 1}, step {header['step']}" if header["step"] else f"epoch {initial_epoch + 1}"
        print(f"Resuming {out} at {where} of {config['epochs']}")
    start = time.time()
    with graceful_interrupt() as stop_requested:
        checkpoint = TrainingCheckpoint(ckpt, batches, extra=lambda: {"history": history},
                                        stop_requested=stop_requested)
        model.fit(batches, validation_data=(x_val, y_val), batch_size=config["batch_size"],
                  epochs=config["epochs"], initial_epoch=initial_epoch, verbose=1,
                  callbacks=[_recorder(out, history, lambda: checkpoint.interrupted), best, checkpoint])
    if checkpoint.interrupted:
        print(f"Interrupted: checkpoint saved to {ckpt}. Continue with: minicnn train --out {out} --resume")
        return INTERRUPTED
    model.save_weights(out / "final.weights.h5")
    result = _evaluate(model, out, x_test, y_test)
    result.update(wall_time_s=time.time() - start, train_images=len(x_tr), epochs=len(history.get("loss", [])))
    if (out / "best.weights.h5").exists():  # the model selection a student makes: best validation epoch
        model.load_weights(out / "best.weights.h5")
        best_loss, best_acc = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
        val_acc = history.get("val_accuracy", [])
        result.update(best_val_epoch=int(np.argmax(val_acc)) + 1 if val_acc else None,
                      best_val_test_accuracy=float(best_acc), best_val_test_loss=float(best_loss))
    _write_json(out / "result.json", result)
    print(f"test accuracy: {result['test_accuracy']:.4f}  test loss: {result['test_loss']:.4f}  "
          f"wall time: {result['wall_time_s']:.0f}s  run folder: {out}")
    if "best_val_test_accuracy" in result:
        print(f"test accuracy of the best validation epoch ({result['best_val_epoch']}, "
              f"best.weights.h5): {result['best_val_test_accuracy']:.4f}")
    return 0


def _evaluate(model, out: Path, x_test, y_test) -> dict:
    """Test loss/accuracy, confusion matrix PNG, per-class accuracy."""
    from .datasets.cifar10 import CLASS_NAMES  # noqa: PLC0415
    from .plots import confusion_matrix, plot_confusion_matrix  # noqa: PLC0415

    test_loss, test_acc = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    predicted = model.predict(x_test, batch_size=512).argmax(axis=1)
    counts = confusion_matrix(y_test, predicted, len(CLASS_NAMES))
    plot_confusion_matrix(counts, CLASS_NAMES, out / "confusion_matrix.png")
    per_class = counts.diagonal() / np.maximum(counts.sum(axis=1), 1)
    return {"test_loss": float(test_loss), "test_accuracy": float(test_acc), "test_images": int(len(x_test)),
            "per_class_accuracy": dict(zip(CLASS_NAMES, map(float, per_class))),
            "confusion_matrix": counts.tolist()}


def _load_run(run) -> tuple:
    """The trained model of a run folder (weights from its last checkpoint) and its config."""
    from .io.checkpoint import restore_checkpoint  # noqa: PLC0415

    run = Path(run)
    if not (run / "config.json").exists() or not (run / "checkpoint.npz").exists():
        raise SystemExit(f"minicnn: {run} is not a run folder (needs config.json and checkpoint.npz)")
    config = json.loads((run / "config.json").read_text())
    model = build_model(config)
    restore_checkpoint(run / "checkpoint.npz", model, restore_rng=False)
    return model, config


def evaluate(args) -> int:
    model, config = _load_run(args.run)
    if args.data:
        config["data"] = args.data
    _, _, (x_test, y_test) = _load(config)
    result = _evaluate(model, Path(args.run), x_test, y_test)
    print(f"test accuracy: {result['test_accuracy']:.4f}  test loss: {result['test_loss']:.4f}  "
          f"({result['test_images']} images; confusion matrix in {Path(args.run) / 'confusion_matrix.png'})")
    return 0


def predict(args) -> int:
    from .datasets.cifar10 import CLASS_NAMES  # noqa: PLC0415
    from .utils import load_image_array  # noqa: PLC0415

    model, _ = _load_run(args.run)
    images = np.stack([load_image_array(p, target_size=(32, 32)) for p in args.images]) / 255.0
    probabilities = model.predict(images.astype("float32"))
    for path, p in zip(args.images, probabilities):
        top = np.argsort(p)[::-1][:3]
        print(f"{path}: " + ", ".join(f"{CLASS_NAMES[i]} {p[i]:.3f}" for i in top))
    return 0


def _int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``, or the reason it is not."""
    def integer(text):
        value = int(text)  # argparse reports a ValueError as "invalid integer value"
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return integer


def _positive_float(text):
    value = float(text)
    if not value > 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="minicnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the seed CIFAR-10 CNN")
    t.add_argument("--epochs", type=_int_at_least(0),
                   help=f"default {DEFAULTS['epochs']} ({QUICK_EPOCHS} with --quick)")
    t.add_argument("--batch-size", type=_int_at_least(1), help=f"default {DEFAULTS['batch_size']}")
    t.add_argument("--learning-rate", type=_positive_float,
                   help=f"Adam's learning rate, default {DEFAULTS['learning_rate']}")
    t.add_argument("--augment", action="store_true", help="random flips, shifts and zooms while training")
    t.add_argument("--out", default="runs/seed-cifar10", help="run folder (default runs/seed-cifar10)")
    t.add_argument("--data", help="data set file or folder (default: the search order in the README)")
    t.add_argument("--seed", type=_int_at_least(0), help="weights and shuffling seed (default 83)")
    t.add_argument("--quick", action="store_true", help="a 2%% subset and 2 epochs, for smoke tests")
    t.add_argument("--limit", type=_int_at_least(1), help="use at most this many training and test images")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.set_defaults(func=train)
    e = sub.add_parser("evaluate", help="test accuracy and confusion matrix of a trained run")
    e.add_argument("run", help="run folder written by `minicnn train`")
    e.add_argument("--data", help="data set file or folder (default: the one the run used)")
    e.set_defaults(func=evaluate)
    p = sub.add_parser("predict", help="top-3 classes of image files")
    p.add_argument("run", help="run folder written by `minicnn train`")
    p.add_argument("images", nargs="+", help="image files (any size; resized to 32x32)")
    p.set_defaults(func=predict)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
