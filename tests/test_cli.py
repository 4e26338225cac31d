"""`minicnn train/evaluate/predict` end to end, on a small archive the tests write.

The resume tests run training in a subprocess, stop it (SIGKILL, or Ctrl-C as
SIGINT) after its first checkpoint, resume it, and require bit-identical final
weights to a run that was never interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _data import class_images, write_image_tar
from minicnn import cli
from minicnn.datasets.cifar10 import CLASS_NAMES
from minicnn.io.checkpoint import read_checkpoint

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
    """An uninterrupted run: its final weights are what resumed runs must reach."""
    out = tmp_path_factory.mktemp("ref") / "run"
    subprocess.run(_train_cmd(data[0], out), env=_env(data[1]), check=True, capture_output=True, timeout=300)
    return _final_weights(out)


def _run_until_first_checkpoint(cmd, env, out):
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while not (out / "checkpoint.npz").exists():
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    return proc


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(data, reference, tmp_path):
    out = tmp_path / "run"
    proc = _run_until_first_checkpoint(_train_cmd(data[0], out), _env(data[1]), out)
    proc.kill()  # SIGKILL: no handler runs, whatever was being written is abandoned
    proc.wait(timeout=30)
    header, _ = read_checkpoint(out / "checkpoint.npz")
    assert 1 <= header["epoch"] < EPOCHS and header["step"] == 0, header["epoch"]
    done = subprocess.run(_train_cmd(data[0], out, "--resume"), env=_env(data[1]), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Resuming {out} at epoch {header['epoch'] + 1}" in done.stdout
    _assert_same(_final_weights(out), reference)
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == EPOCHS  # epochs before the kill are kept, none counted twice


def test_ctrl_c_saves_mid_epoch_checkpoint_and_resume_matches(data, reference, tmp_path):
    out = tmp_path / "run"
    proc = _run_until_first_checkpoint(_train_cmd(data[0], out), _env(data[1]), out)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == cli.INTERRUPTED, output
    assert "checkpoint saved" in output and "Traceback" not in output
    header, _ = read_checkpoint(out / "checkpoint.npz")
    assert header["step"] > 0 and header["epoch"] < EPOCHS  # stopped inside an epoch
    done = subprocess.run(_train_cmd(data[0], out, "--resume"), env=_env(data[1]), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"step {header['step']}" in done.stdout
    _assert_same(_final_weights(out), reference)


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
    for f in ("best.weights.h5", "final.weights.h5", "checkpoint.npz", "config.json"):
        assert (out / f).exists(), f

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
