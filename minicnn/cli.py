"""Command line: ``minicnn train | evaluate | predict``.

``minicnn train`` trains the seed CIFAR-10 recipe: scale pixels to [0, 1],
hold out 20 % of the training images for validation (shuffled with
random_state 83), Adam with learning rate 1e-3, batch 128, 20 epochs; then
evaluate on all 10,000 test images. Everything lands in the run folder:

    config.json          the settings (``evaluate``/``predict`` rebuild the model from it)
    checkpoint.npz       complete training state after the last epoch (``--resume``)
    best.weights.h5      weights of the best validation accuracy so far (Keras format)
    final.weights.h5     weights at the end
    model.keras          the whole trained model in Keras 3's format: architecture, final
                         weights, optimizer state (``minicnn.models.load_model`` or
                         ``keras.models.load_model`` opens it; no code needed)
    history.csv/.json    loss and accuracy per epoch
    learning_curves.png  loss and accuracy, training vs validation
    confusion_matrix.png and result.json   test-set results

Ctrl-C stops after the current batch and saves a checkpoint that
``minicnn train --out RUN --resume`` continues exactly where it stopped. A
NaN or infinite loss stops training too, with exit status 1: the files of the
last good epoch stay as they were, result.json records where it happened,
and ``--resume`` (with a lower ``--learning-rate``) continues from that epoch.

A mistake in the input (a missing or unreadable file, a damaged run folder)
is one line on stderr and exit status 1; ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .atomic_files import atomic_path

DEFAULTS = {"epochs": 20, "batch_size": 128, "learning_rate": 1e-3, "augment": False, "seed": 83,
            "data": None, "quick": False, "limit": None}
CONFIG_TYPES = {"epochs": int, "batch_size": int, "learning_rate": (int, float), "augment": bool, "seed": int,
                "data": (str, type(None)), "quick": bool, "limit": (int, type(None))}
QUICK_EPOCHS = 2
FAILED = 1
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


def _recorder(out, history):
    """A callback that appends each finished epoch's logs to ``history`` and
    rewrites history.json/.csv; it redraws learning_curves.png when a minute
    has passed since the last drawing, and at the end of training. (An epoch
    left unfinished, by Ctrl-C or a NaN loss, never reaches ``on_epoch_end``.)"""
    from .callbacks import Callback  # noqa: PLC0415

    class RunRecorder(Callback):
        drawn_at = float("-inf")

        def on_epoch_end(self, epoch, logs=None):
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            _write_history(out, history)
            if time.monotonic() - self.drawn_at >= PLOT_EVERY_S:
                _plot_history(out, history)
                self.drawn_at = time.monotonic()

        def on_train_end(self, logs=None):
            _plot_history(out, history)

    return RunRecorder()


def _read_config(path: Path) -> dict:
    """A run's saved settings, checked: a damaged config.json is a clear error naming it."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a readable run config ({exc})") from None
    if not isinstance(saved, dict):
        raise ValueError(f"{path} is not a run config: it holds {type(saved).__name__}, not the settings")
    for key, value in saved.items():
        if key not in CONFIG_TYPES:
            raise ValueError(f"{path}: unknown setting {key!r} (the settings are {sorted(CONFIG_TYPES)})")
        if not isinstance(value, CONFIG_TYPES[key]) or (isinstance(value, bool) and CONFIG_TYPES[key] is not bool):
            raise ValueError(f"{path}: setting {key!r} is {value!r}, which is not a valid value")
    return saved


def _resolve_config(args, out: Path) -> dict:
    saved = _read_config(out / "config.json") if args.resume else {}
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
    from .io.checkpoint import restore_checkpoint  # noqa: PLC0415
    from .io.resume import ResumableBatches, TrainingCheckpoint, graceful_interrupt  # noqa: PLC0415
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
        if args.learning_rate is not None:  # a new rate for the rest of the run (the checkpoint holds the old one)
            model.optimizer.learning_rate = config["learning_rate"]
        history, initial_epoch = header["extra"].get("history", {}), header["epoch"]
        batches.resume_at(header)
        best.best = max(history.get("val_accuracy", [-np.inf]))
        where = f"epoch {initial_epoch + 1}, step {header['step']}" if header["step"] else f"epoch {initial_epoch + 1}"
        print(f"Resuming {out} at {where} of {config['epochs']}")
    start = time.time()
    with graceful_interrupt() as stop_requested, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Batch .* the loss is NaN", RuntimeWarning)  # _stopped_on_nan says more
        checkpoint = TrainingCheckpoint(ckpt, batches, extra=lambda: {"history": history},
                                        stop_requested=stop_requested)
        model.fit(batches, validation_data=(x_val, y_val), batch_size=config["batch_size"],
                  epochs=config["epochs"], initial_epoch=initial_epoch, verbose=1,
                  callbacks=[_recorder(out, history), best, checkpoint])
    if checkpoint.interrupted:
        print(f"Interrupted: checkpoint saved to {ckpt}. Continue with: minicnn train --out {out} --resume")
        return INTERRUPTED
    if model.unfinished_epoch is not None:  # a NaN loss: the model's weights are broken, keep them out of every file
        return _stopped_on_nan(model.unfinished_epoch, out, config, history, time.time() - start)
    model.save_weights(out / "final.weights.h5")
    model.save(out / "model.keras")
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


def _stopped_on_nan(stop, out: Path, config, history, wall_time_s) -> int:
    """Record a NaN stop in result.json and say, in one line on stderr, where it
    happened and how to continue from the last good epoch."""
    good = len(history.get("loss", []))  # epochs finished: what checkpoint.npz and best.weights.h5 hold
    _write_json(out / "result.json", {"stopped": {"reason": "nan_loss", "epoch": stop["epoch"] + 1,
                                                  "batch": stop["batch"], "last_good_epoch": good},
                                      "epochs": good, "wall_time_s": wall_time_s})
    lower = f"--learning-rate {config['learning_rate'] / 10:g}"
    then = (f"checkpoint.npz and best.weights.h5 still hold epoch {good}; continue from there with a lower "
            f"learning rate (the same one repeats the same NaN): minicnn train --out {out} --resume {lower}"
            if good else f"no epoch finished; start again with a lower learning rate ({lower})")
    print(f"minicnn train: the loss became NaN or infinite in epoch {stop['epoch'] + 1}, batch {stop['batch']}; "
          f"training stopped and nothing from that epoch was saved. {then}", file=sys.stderr)
    return FAILED


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
    config = {**DEFAULTS, **_read_config(run / "config.json")}
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
    """Top-3 classes of each image; a file that cannot be read is reported on
    stderr and skipped, the others are still predicted (exit status 1 if any failed)."""
    from .datasets.cifar10 import CLASS_NAMES  # noqa: PLC0415
    from .utils import load_image_array  # noqa: PLC0415

    model, _ = _load_run(args.run)
    paths, images = [], []
    for path in args.images:
        try:
            images.append(load_image_array(path, target_size=(32, 32), shrink_large=True))
            paths.append(path)
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with one file, the others still count
            if args.debug:
                raise
            print(f"minicnn predict: skipped {path}: {_describe(exc)}", file=sys.stderr)
    if images:
        probabilities = model.predict((np.stack(images) / 255.0).astype("float32"))
        for path, p in zip(paths, probabilities):
            top = np.argsort(p)[::-1][:3]
            print(f"{path}: " + ", ".join(f"{CLASS_NAMES[i]} {p[i]:.3f}" for i in top))
    return 0 if len(paths) == len(args.images) else FAILED


def _describe(exc: BaseException) -> str:
    """One line for an error: the OS's words for a file problem, else the error's own message
    (with a hint at ``--debug`` for an error that is not about the input)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    message = " ".join(line.strip() for line in str(exc).splitlines()) or type(exc).__name__
    if not isinstance(exc, (OSError, ValueError, RuntimeError)):
        message += f" ({type(exc).__name__}; run again with --debug for the traceback)"
    return message


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
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    common = argparse.ArgumentParser(add_help=False)  # --debug also after the command
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the seed CIFAR-10 CNN", parents=[common])
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
    e = sub.add_parser("evaluate", help="test accuracy and confusion matrix of a trained run", parents=[common])
    e.add_argument("run", help="run folder written by `minicnn train`")
    e.add_argument("--data", help="data set file or folder (default: the one the run used)")
    e.set_defaults(func=evaluate)
    p = sub.add_parser("predict", help="top-3 classes of image files", parents=[common])
    p.add_argument("run", help="run folder written by `minicnn train`")
    p.add_argument("images", nargs="+", help="image files (any size; resized to 32x32)")
    p.set_defaults(func=predict)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (Exception, KeyboardInterrupt) as exc:
        if args.debug:
            raise
        if isinstance(exc, KeyboardInterrupt):  # a second Ctrl-C, or one outside training
            print(f"minicnn {args.command}: interrupted", file=sys.stderr)
            return INTERRUPTED
        print(f"minicnn {args.command}: {_describe(exc)}", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
