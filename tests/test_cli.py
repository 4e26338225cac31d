"""`minicnn train/evaluate/predict` end to end, on a small archive the tests write.

The resume tests stop training at the first, a middle and the last step of an
epoch (Ctrl-C as a real SIGINT to this process, or SIGKILL to a subprocess),
resume it, and require bit-identical final weights and the same history as a
run that was never interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _data import class_images, write_image_tar
import minicnn as mc
from minicnn import cli
from minicnn.datasets.cifar10 import CLASS_NAMES
from minicnn.io import resume
from minicnn.io.checkpoint import read_checkpoint
from minicnn.utils import load_image_array

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 3


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli-data")
    path = write_image_tar(tmp / "tiny.tar.gz", class_images(20, seed=1), class_images(3, seed=2), fmt="jpg")
    return path, tmp / "cache"


def _env(cache):
    return {**os.environ, "MINICNN_CACHE": str(cache), "PYTHONPATH": str(ROOT)}


def _train_cmd(data_path, out, *extra):
    return [sys.executable, "-m", "minicnn", "train", "--data", str(data_path), "--out", str(out),
            "--epochs", str(EPOCHS), "--batch-size", "10", "--limit", "50", *extra]


def _final_weights(out):
    _, arrays = read_checkpoint(Path(out) / "checkpoint.npz")
    return [arrays[k] for k in sorted(arrays)]


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """An uninterrupted run: its final weights and history are what resumed runs must reach."""
    out = tmp_path_factory.mktemp("ref") / "run"
    subprocess.run(_train_cmd(data[0], out), env=_env(data[1]), check=True, capture_output=True, timeout=300)
    return _final_weights(out), json.loads((out / "history.json").read_text()), out


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# 50 images, 20 % held out: 40 in batches of 10, 4 steps per epoch. Stops at the first, a middle and
# the last step of epoch 2 (steps 5, 6 and 8 counted from the start of training).
STEPS_PER_EPOCH = 4
STOPS = {"first": 5, "middle": 6, "last": 8}

# Runs `minicnn train` and kills the process with SIGKILL (no handler, no cleanup) after training step argv[1].
KILL_AT_STEP = """
import os, signal, sys
import minicnn as mc
from minicnn import cli
from minicnn.io import resume
seen, original = [0], resume.TrainingCheckpoint.on_train_batch_end
def hook(self, batch, logs=None):
    seen[0] += 1
    if seen[0] == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    original(self, batch, logs)
resume.TrainingCheckpoint.on_train_batch_end = hook
sys.exit(cli.main(sys.argv[2:]))
"""


def _ctrl_c_at_step(monkeypatch, step):
    """A real SIGINT (Ctrl-C) to this process after training step ``step``, handled by the CLI's handler."""
    seen, original = [0], resume.TrainingCheckpoint.on_train_batch_end

    def hook(self, batch, logs=None):
        seen[0] += 1
        if seen[0] == step:
            signal.raise_signal(signal.SIGINT)
        original(self, batch, logs)

    monkeypatch.setattr(resume.TrainingCheckpoint, "on_train_batch_end", hook)


@pytest.mark.parametrize("signum", ["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("where", list(STOPS))
def test_stop_at_any_step_then_resume_gives_the_same_weights_and_history(data, reference, tmp_path, monkeypatch,
                                                                         capsys, recwarn, where, signum):
    monkeypatch.setenv("MINICNN_CACHE", str(data[1]))
    out = tmp_path / "run"
    args = _train_cmd(data[0], out)[3:]  # the arguments after `python -m minicnn`
    if signum == "SIGINT":
        _ctrl_c_at_step(monkeypatch, STOPS[where])
        assert cli.main(args) == cli.INTERRUPTED
        assert "Interrupted: checkpoint saved" in capsys.readouterr().out
        stopped_at = (1, STOPS[where] - STEPS_PER_EPOCH)  # epoch 2 (0-based 1), after this many steps of it
    else:
        killed = subprocess.run([sys.executable, "-c", KILL_AT_STEP, str(STOPS[where]), *args], env=_env(data[1]),
                                capture_output=True, text=True, timeout=300)
        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
        stopped_at = (1, 0)  # nothing is saved at a kill: the checkpoint of epoch 1's end
    header, _ = read_checkpoint(out / "checkpoint.npz")
    assert (header["epoch"], header["step"]) == stopped_at
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 1  # no half epoch recorded
    assert cli.main([*args, "--resume"]) == 0
    assert f"Resuming {out} at epoch 2" in capsys.readouterr().out
    _assert_same(_final_weights(out), reference[0])
    assert json.loads((out / "history.json").read_text()) == reference[1]  # exactly, the stopped epoch too
    assert not [w for w in recwarn if "is not in the logs" in str(w.message)]


def _poison_step(monkeypatch, step, saved):
    """Make training step ``step`` produce a NaN loss (a NaN in the first kernel), and keep a copy of the
    run's files as they are just before it, in ``saved``."""
    original = cli.build_model

    def build(config):
        model, seen = original(config), [0]
        train_step = model._train_batch

        def poisoned(x, y, *rest):
            seen[0] += 1
            if seen[0] == step:
                out = Path(saved["out"])
                saved.update({name: (out / name).read_bytes() for name in ("checkpoint.npz", "best.weights.h5")})
                model.weights[0].assign(np.full(model.weights[0].shape, np.nan, "float32"))
            return train_step(x, y, *rest)

        model._train_batch = poisoned
        return model

    monkeypatch.setattr(cli, "build_model", build)


def test_a_nan_loss_keeps_the_last_good_epoch_and_says_how_to_resume(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINICNN_CACHE", str(data[1]))
    out = tmp_path / "run"
    args = _train_cmd(data[0], out)[3:]
    saved = {"out": out}
    _poison_step(monkeypatch, STEPS_PER_EPOCH + 2, saved)  # epoch 2, batch 1 (0-based, as Keras counts)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # fit's own NaN warning is left to the one line below
        assert cli.main(args) == cli.FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minicnn train: the loss became NaN or infinite in epoch 2, "
                                                   "batch 1; training stopped and nothing from that epoch was saved")
    assert err.endswith(f"checkpoint.npz and best.weights.h5 still hold epoch 1; continue from there with a lower "
                        f"learning rate (the same one repeats the same NaN): minicnn train --out {out} --resume "
                        "--learning-rate 0.0001\n")
    for name in ("checkpoint.npz", "best.weights.h5"):
        assert (out / name).read_bytes() == saved[name], name  # the good files, untouched
    assert not (out / "final.weights.h5").exists()
    result = json.loads((out / "result.json").read_text())
    assert result["stopped"] == {"reason": "nan_loss", "epoch": 2, "batch": 1, "last_good_epoch": 1}
    assert "test_loss" not in result and len(json.loads((out / "history.json").read_text())["loss"]) == 1

    monkeypatch.undo()
    monkeypatch.setenv("MINICNN_CACHE", str(data[1]))
    assert cli.main([*args, "--resume", "--learning-rate", "0.0001"]) == 0
    assert f"Resuming {out} at epoch 2 of {EPOCHS}" in capsys.readouterr().out
    assert np.isfinite(np.concatenate([w.ravel() for w in _final_weights(out)])).all()
    assert json.loads((out / "config.json").read_text())["learning_rate"] == 0.0001
    assert all(np.isfinite(v) for v in json.loads((out / "history.json").read_text())["loss"])


def test_train_quick_end_to_end_then_evaluate_and_predict(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINICNN_CACHE", str(data[1]))
    out = tmp_path / "quick"
    assert cli.main(["train", "--quick", "--limit", "40", "--batch-size", "8",
                     "--data", str(data[0]), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Epoch 1/2" in text and "Epoch 2/2" in text  # --quick means 2 epochs
    assert re.search(r"\d+/\d+ - \d+s - \d+ms/step - accuracy: [\d.]+ - loss: [\d.]+ - val_accuracy", text)
    result = json.loads((out / "result.json").read_text())
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["epochs"] == 2
    assert np.sum(result["confusion_matrix"]) == result["test_images"]
    history = json.loads((out / "history.json").read_text())
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"} and len(history["loss"]) == 2
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0] == "epoch,accuracy,loss,val_accuracy,val_loss" and len(rows) == 3
    for png in ("learning_curves.png", "confusion_matrix.png"):
        with Image.open(out / png) as im:
            assert im.format == "PNG" and im.size[0] > 300
    for f in ("best.weights.h5", "final.weights.h5", "checkpoint.npz", "config.json", "model.keras"):
        assert (out / f).exists(), f
    trained = mc.models.load_model(out / "model.keras")  # the whole model, no code to rebuild it
    reference = cli.build_model(json.loads((out / "config.json").read_text()))
    reference.load_weights(out / "final.weights.h5")
    probe = class_images(1, seed=6, size=32)[0][:4].astype("float32") / 255.0
    np.testing.assert_allclose(trained.predict(probe), reference.predict(probe), rtol=1e-6, atol=1e-7)

    assert cli.main(["evaluate", str(out)]) == 0
    assert f"test accuracy: {result['test_accuracy']:.4f}" in capsys.readouterr().out

    image = tmp_path / "big.png"
    Image.fromarray(class_images(1, seed=5, size=64)[0][3]).save(image)  # 64x64: gets resized
    assert cli.main(["predict", str(out), str(image)]) == 0
    line = capsys.readouterr().out.strip()
    found = re.findall(r"(\w+) ([\d.]+)", line.split(": ", 1)[1])
    assert len(found) == 3 and all(name in CLASS_NAMES for name, _ in found)
    probabilities = [float(p) for _, p in found]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0 + 1e-3


def test_train_refuses_to_overwrite_and_resume_needs_a_checkpoint(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.npz").write_bytes(b"x")
    with pytest.raises(SystemExit, match="already holds a run"):
        cli.main(["train", "--out", str(tmp_path / "run")])
    with pytest.raises(SystemExit, match="does not exist"):
        cli.main(["train", "--out", str(tmp_path / "other"), "--resume"])
    with pytest.raises(SystemExit, match="not a run folder"):
        cli.main(["evaluate", str(tmp_path / "other")])


def test_module_entry_point_prints_help():
    done = subprocess.run([sys.executable, "-m", "minicnn", "--help"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.returncode == 0 and "train" in done.stdout and "predict" in done.stdout


def test_zero_is_a_value_for_cli_flags(tmp_path):
    """`--seed 0` used to become 83 and `--epochs 0` 20 (0 == False in the check for "given")."""
    args = argparse.Namespace(epochs=0, seed=0, batch_size=None, learning_rate=None, augment=False, data=None,
                              quick=False, limit=None, resume=False)
    config = cli._resolve_config(args, tmp_path)
    assert config["epochs"] == 0 and config["seed"] == 0 and config["batch_size"] == cli.DEFAULTS["batch_size"]


@pytest.mark.parametrize("flag, value, reason", [
    ("--learning-rate", "-1", "must be a positive number"), ("--learning-rate", "nan", "must be a positive number"),
    ("--epochs", "-2", "must be at least 0"), ("--batch-size", "0", "must be at least 1"),
    ("--limit", "0", "must be at least 1"), ("--seed", "-5", "must be at least 0"),
])
def test_bad_cli_values_are_refused_with_the_reason(flag, value, reason, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", flag, value])
    assert stop.value.code == 2
    assert reason in capsys.readouterr().err


@pytest.fixture
def images(tmp_path):
    """One good image and four files `predict` cannot read."""
    good = tmp_path / "cat.png"
    Image.fromarray(class_images(1, seed=5)[0][3]).save(good)
    folder = tmp_path / "a_folder"
    folder.mkdir()
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    full = tmp_path / "full.jpg"
    Image.fromarray(class_images(1, seed=5, size=64)[0][3]).save(full)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[:300])
    return good, [(folder, f"Is a directory: {folder}"), (text, f"cannot identify image file '{text}'"),
                  (cut, "Truncated File Read"), (tmp_path / "gone.png", f"No such file or directory: {tmp_path}/gone.png")]


def test_predict_reports_each_unreadable_file_and_predicts_the_rest(reference, images, capsys):
    good, bad = images
    assert cli.main(["predict", str(reference[2]), str(good), *(str(path) for path, _ in bad)]) == cli.FAILED
    out, err = capsys.readouterr()
    assert out.startswith(f"{good}: ") and out.count("\n") == 1
    assert err.splitlines() == [f"minicnn predict: skipped {path}: {why}" for path, why in bad]
    assert "Traceback" not in err


def _damaged_run(reference, tmp_path, name, content):
    run = tmp_path / "run"
    shutil.copytree(reference[2], run)
    (run / name).write_bytes(content(run / name))
    return run


@pytest.mark.parametrize("name, content, message", [
    ("config.json", lambda p: b"{not json", r"config.json is not a readable run config \(Expecting property name"),
    ("config.json", lambda p: b'{"epochs": "many"}', r"config.json: setting 'epochs' is 'many', which is not a valid"),
    ("config.json", lambda p: b"[1, 2]", r"config.json is not a run config: it holds list, not the settings"),
    ("checkpoint.npz", lambda p: p.read_bytes()[:999], r"checkpoint.npz is not a readable minicnn checkpoint"),
])
def test_a_damaged_run_folder_is_one_line_on_stderr(reference, tmp_path, capsys, name, content, message):
    run = _damaged_run(reference, tmp_path, name, content)
    for command in (["evaluate", str(run)], ["predict", str(run), str(tmp_path / "any.png")]):
        assert cli.main(command) == cli.FAILED
        err = capsys.readouterr().err
        assert re.fullmatch(rf"minicnn {command[0]}: {run}/{message}.*\n", err), err


def test_debug_shows_the_traceback(reference, tmp_path, capsys):
    run = _damaged_run(reference, tmp_path, "config.json", lambda p: b"{not json")
    for argv in (["--debug", "evaluate", str(run)], ["evaluate", str(run), "--debug"]):
        with pytest.raises(ValueError, match="not a readable run config"):
            cli.main(argv)


def test_a_missing_or_unreadable_data_set_is_one_line(tmp_path, capsys):
    assert cli.main(["train", "--data", str(tmp_path / "nothere.tar.gz"), "--out", str(tmp_path / "a")]) == cli.FAILED
    assert capsys.readouterr().err == f"minicnn train: Data set path {tmp_path}/nothere.tar.gz does not exist\n"
    (tmp_path / "notes.tar.gz").write_text("not an archive")
    assert cli.main(["train", "--data", str(tmp_path / "notes.tar.gz"), "--out", str(tmp_path / "b")]) == cli.FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"minicnn train: Could not read the data set at {tmp_path}")


def test_a_huge_image_is_reduced_before_it_becomes_float(tmp_path):
    """An 8000x8000 JPEG decoded in full as float32 is 768 MB; `predict` reads it at 1/8 scale and box-reduces
    it to about twice 32x32 first, so NumPy never holds more than a few hundred kB for it."""
    from PIL import ImageDraw

    big = Image.new("RGB", (8000, 8000), (200, 30, 30))
    ImageDraw.Draw(big).ellipse((1000, 1000, 7000, 7000), fill=(20, 200, 40))
    path = tmp_path / "huge.jpg"
    big.save(path, quality=60)
    del big
    tracemalloc.start()
    try:
        image = load_image_array(path, target_size=(32, 32), shrink_large=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert image.shape == (32, 32, 3) and peak < 4_000_000, peak
    np.testing.assert_allclose(image[16, 16], [20, 200, 40], atol=12)  # the centre is the green disc
    np.testing.assert_allclose(image[1, 1], [200, 30, 30], atol=12)  # the corner is the red ground
