"""Every example runs with --quick and shows what it claims.

Each example is run in a subprocess (as a learner would run it) with ``--quick``
and ``--out`` a temporary folder; it must exit 0, write non-empty PNGs, and its
``claims.json`` must hold the facts it teaches (the naive and im2col
convolutions agree, the gradient check passes, ...). Timings the examples
measure are printed, never asserted: speed claims live in benchmarks/.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))


def _check_01(c):
    assert c["table_mismatches"] == 0 and c["table_rows"] >= 8
    assert c["plot_mismatches"] == 0 and c["plot_points_checked"] > 20


def _check_02(c):
    assert c["tiny_cols_shape"] == [4, 9]
    assert c["tiny_first_row"] == [1, 2, 3, 5, 6, 7, 9, 10, 11]
    assert c["naive_vs_im2col_max_abs_diff"] < 1e-12  # float64
    assert c["layer_vs_naive_max_abs_diff"] < 1e-12
    assert c["adjoint_rel_error"] < 1e-12
    assert c["real_size_max_abs_diff"] < 1e-3  # float32 sums of 288 products
    assert c["loop_ms"] > 0 and c["im2col_ms"] > 0


def _check_03(c):
    assert c["scalar_grads_match"] is True
    assert c["dense_max_abs_diff"] < 1e-12
    assert c["gradcheck_passed"] is True and c["gradcheck_max_rel_error"] < 1e-7
    assert c["im2col_bytes_match_explain"] is True
    assert c["tape_functions"] == 9  # Conv2D+ReLU(+MaxPool) and Dense+bias+ReLU are one Function each
    assert c["tape_released_after_backward"] is True


def _check_04(c):
    assert c["param_totals"] == [582_026] * 3 and c["same_param_counts"] is True
    assert c["same_weights_max_output_diff"] < 1e-6
    assert c["final_loss_spread"] < 1e-5  # same start, same batches: the same computation
    assert c["loss_decreased"] is True


def _check_05(c):
    assert c["first_kernel_shape"] == [3, 3, 3, 32]
    assert c["feature_map_shapes"] == [[32, 32, 32], [16, 16, 64], [8, 8, 64]]
    assert c["layerwise_equals_model"] < 1e-6
    assert c["confusion_accuracy_matches"] is True
    assert 0.0 <= c["test_accuracy"] <= 1.0


def _check_06(c):
    assert c["identity_at_inference"] is True and c["layers_shown"] >= 4


def _check_07(c):
    assert c["features_match_full_model"] < 1e-4
    assert c["head_same_as_full_fit_max_diff"] < 1e-5  # cached features train the very same head
    assert c["frozen_base_unchanged"] is True
    assert c["cached_epoch_s"] > 0 and c["full_epoch_s"] > 0


def _check_08(c):
    assert c["fine_tune_started_at_epoch"] >= 1
    assert c["head_in_model_same_accuracy"] is True
    assert c["trainable_after_unfreeze"] > c["trainable_before_unfreeze"]


def _check_09(c):
    assert c["unit_params"] == c["unit_params_by_hand"] == 230_912
    assert c["train_step_loss_finite"] is True
    assert c["shapes_ok"] is True
    assert c["resnet34_params"] == c["resnet34_params_keras_reference"]


def _check_10(c):
    assert c["numba_vs_numpy_rel_diff"] < 1e-4
    assert "Conv2DFunction.backward" in c["profiled_ops"]
    assert all(0.5 < share <= 1.01 for share in c["profiled_share_of_wall"].values())


CHECKS = {f"{n:02d}": globals()[f"_check_{n:02d}"] for n in range(1, 11)}


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_quick_and_keeps_its_claims(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("MINICNN_PROFILE", None)
    proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert claims["quick"] is True
    pictures = claims.get("pictures", [])
    assert pictures, f"{script.name} drew nothing"
    for name in pictures:
        png = tmp_path / name
        assert png.is_file() and png.stat().st_size > 5_000, f"{script.name}: {name} missing or empty"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    CHECKS[script.name[:2]](claims)
    print(f"{script.name}: {claims['wall_s']} s")


def test_every_example_is_a_documented_notebook_with_a_thumbnail():
    readme = (ROOT / "examples" / "README.md").read_text()
    for script in EXAMPLES:
        text = script.read_text()
        assert text.startswith("# %% [markdown]"), f"{script.name} must open with a markdown cell"
        assert "Read next:" in text and "minicnn/" in text, f"{script.name} must name the source to read next"
        assert "--quick" in text
        assert script.name in readme, f"examples/README.md does not list {script.name}"
        thumbnail = ROOT / "examples" / "thumbnails" / f"{script.stem}.png"
        assert thumbnail.is_file() and f"thumbnails/{script.stem}.png" in readme
        assert script.name[:2] in CHECKS
