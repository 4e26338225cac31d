"""The benchmark harness runs end to end (``python -m benchmarks --quick``), and the GPU
script (``python -m benchmarks.gpu``) in its CPU rehearsal, with its budget and parity check.

Smoke tests: they check that every part runs and reports well-formed, positive
measurements. Speed itself is never asserted in tests (this machine is shared and
noisy); the numbers live in benchmarks/results and the README.
"""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_writes_kernel_and_end_to_end_tables(tmp_path):
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "results.png").stat().st_size > 0
    kernels = results["kernels"]
    assert kernels and all(row["numpy_ms"] > 0 and row["numba_ms"] > 0 for row in kernels)
    rows = {row["framework"]: row for row in results["end_to_end"]["rows"]}
    assert "keras" in rows and any(name.startswith("minicnn") for name in rows)
    for row in rows.values():
        assert row["train_img_s"] > 0 and row["infer_img_s"] > 0 and row["peak_rss_train_mb"] > 0
    assert rows["keras"]["train_img_s_vs_keras"] == 1.0


def test_cpu_description_reads_the_model_and_vector_units_of_the_first_processor():
    from benchmarks.__main__ import cpu_description

    cpuinfo = ("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma avx512f avx512bw\n\n"
               "processor\t: 1\nmodel name\t: other\nflags\t\t: fpu amx_tile\n")
    assert cpu_description(cpuinfo) == {"cpu": "AMD EPYC", "vector_units": ["avx2", "fma", "avx512f"]}
    assert cpu_description("") == {"cpu": "", "vector_units": []}


# -- python -m benchmarks.gpu: the GPU script, rehearsed on the CPU ----------------------------
def test_gpu_script_dry_run_rehearses_every_section_on_the_cpu(tmp_path):
    from benchmarks.gpu.__main__ import OUT_FILES
    from benchmarks.gpu.report import REHEARSAL_NOTE, TITLES
    from benchmarks.gpu.sections import SECTIONS

    run = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--dry-run", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(OUT_FILES) and len(written) <= 8  # the device tool brings back at most 8 files
    results = json.loads((tmp_path / "gpu_results.json").read_text())
    report = (tmp_path / "gpu_report.md").read_text()
    assert results["dry_run"] and results["environment"]["device"] == "cpu" and REHEARSAL_NOTE in report
    assert results["order"] == list(SECTIONS)
    for name in SECTIONS:
        assert not results[name]["status"].startswith("skipped"), (name, results[name]["status"])
        assert f"## {TITLES[name]}" in report
    assert results["tests"]["returncode"] == 0 and "skipped" in results["tests"]["summary"]  # no GPU here
    for row in results["endtoend"]["rows"] + results["scaling"]["rows"]:
        if row["framework"].startswith("minicnn"):
            assert row["img_s"] > 0, row
        else:  # PyTorch measured on the CPU, or said to be missing
            assert row.get("img_s", 0) > 0 or row["error"] == "torch not installed", row
    assert {r["batch"] for r in results["scaling"]["rows"]} == {8, 32}
    recipe = results["recipe"]
    assert recipe["status"] == "done" and recipe["epochs"] == 1 and 0.0 <= recipe["test_accuracy"] <= 1.0
    assert json.loads((tmp_path / "recipe_result.json").read_text())["test_accuracy"] == recipe["test_accuracy"]
    parity = results["parity"]
    assert parity["device"] == "cpu" and len(parity["rows"]) > 100
    assert all(row["ok"] and "error" not in row for row in parity["rows"])
    assert results["kernels"]["rows"] and all(row[3] > 0 for row in results["kernels"]["rows"])
    assert "python -m benchmarks.gpu.endtoend minicnn-graph train 16 64" in (tmp_path / "commands.log").read_text()


def test_gpu_script_skips_what_its_budget_cannot_hold(tmp_path, monkeypatch):
    from benchmarks.gpu.__main__ import main
    from benchmarks.gpu.sections import SECTIONS

    monkeypatch.setenv("MINICNN_DEVICE", "cpu")  # main sets it for a dry run; restored after the test
    assert main(["--dry-run", "--budget-s", "5", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "gpu_results.json").read_text())
    report = (tmp_path / "gpu_report.md").read_text()
    for name in SECTIONS:
        assert results[name]["status"].startswith("skipped: budget"), results[name]
    assert report.count("skipped: budget") >= 2 * len(SECTIONS)  # the status table and each section
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu_report.md", "gpu_results.json"]  # nothing ran


def test_recipe_is_not_started_when_its_estimate_does_not_fit(tmp_path):
    from benchmarks.gpu.commands import Budget
    from benchmarks.gpu.sections import GPU_SIZES, Run, recipe_estimate, run_recipe

    rows = [{"framework": "minicnn", "mode": "train", "img_s": 1000.0},
            {"framework": "minicnn-graph", "mode": "train", "img_s": 2000.0},
            {"framework": "minicnn", "mode": "infer", "img_s": 4000.0}]
    run = Run(tmp_path, GPU_SIZES, "gpu", {"endtoend": {"rows": rows}})
    # 20 epochs of 40,000 training images at 1,000 img/s and 10,000 validation images at 4,000 img/s, two tests
    assert recipe_estimate(run) == 45 + 1.25 * (20 * (40 + 2.5) + 2 * 2.5)
    result = run_recipe(run, Budget.of(600))
    assert result["status"].startswith("skipped: budget (needs 1114 s, estimated from the end-to-end img/s")
    assert recipe_estimate(Run(tmp_path, GPU_SIZES, "gpu", {})) is None  # no figures: the section's own need


def _ends_within(proc: Path, seconds: float) -> bool:
    """True once the process of /proc/PID is gone or a zombie (dead, not reaped: its parent was killed)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if "\nState:\tZ" in (proc / "status").read_text():
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_a_subprocess_over_its_timeout_is_killed_with_its_children(tmp_path):
    from benchmarks.gpu.commands import run_python

    parent = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', "
              "'import time; time.sleep(60)']); print(child.pid, flush=True); time.sleep(60)")
    done = run_python(["-c", parent], {"MINICNN_DEVICE": "cpu"}, timeout=2, log=tmp_path / "log")
    assert done.timed_out and done.seconds < 30 and done.failure() == f"timed out after {done.seconds:.0f} s (budget)"
    assert _ends_within(Path(f"/proc/{int(done.output.split()[0])}"), seconds=10)
    log = (tmp_path / "log").read_text()
    assert log.startswith("$ MINICNN_DEVICE=cpu python -c ") and "# killed at its timeout" in log


def test_parity_check_reports_a_changed_value_and_different_inputs():
    import numpy as np

    from benchmarks.gpu.parity_outputs import check_case, layer_results

    case = {"kind": "layer", "label": "Conv2D", "kwargs": {"filters": 3, "kernel_size": (3, 3)},
            "shapes": (2, 6, 6, 2), "dtype": "float32", "seed": 5}
    results, fingerprint = layer_results(case["label"], case["kwargs"], case["shapes"], case["dtype"], case["seed"])
    assert check_case(case, {**results, "fingerprint": fingerprint}) == {
        "label": "Conv2D", "dtype": "float32", "kind": "layer", "forward": 0.0, "grad": 0.0, "ok": True}
    kernel_grad = results["grad_weight_0"]
    changed = kernel_grad + 2e-4 * np.abs(kernel_grad).max()
    row = check_case(case, {**results, "grad_weight_0": changed, "fingerprint": fingerprint})
    assert not row["ok"] and row["forward"] == 0.0 and 1e-4 < row["grad"] < 3e-4
    row = check_case(case, {**results, "fingerprint": fingerprint * 1.001})
    assert not row["ok"] and "record the file again on the CPU" in row["error"]


def test_parity_reference_file_is_refused_when_it_is_something_else(tmp_path):
    import pytest

    from benchmarks.gpu.parity_outputs import load_reference

    bad = tmp_path / "ref.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"ref\.npz: not a reference file written by .*--record"):
        load_reference(bad)


def test_the_recorded_gpu_reference_covers_every_parity_layer_row():
    """``gpu/cpu_reference.npz`` holds the CPU's outputs for the GPU run to
    compare with; a layer row added to the parity suite without recording it
    again would silently be missing from the GPU check."""
    from benchmarks.gpu.parity_outputs import REFERENCE, load_reference
    from parity.test_layers import LAYER_CASES

    import minicnn as mc

    cases, _, _ = load_reference(REFERENCE)
    recorded = {c["label"] for c in cases if c["kind"] == "layer"}
    wanted = {label for label in LAYER_CASES if hasattr(mc.layers, label.split("(")[0])}
    assert wanted <= recorded, (f"not in {REFERENCE.name}: {sorted(wanted - recorded)}; run "
                                "python -m benchmarks.gpu.parity_outputs --record")


def test_profile_step_counts_predict_batches_as_steps():
    """``--mode predict`` runs no backward, which is what counts steps elsewhere:
    each batch is counted, so ms/step is per batch, not the total."""
    from benchmarks import profile_step

    result = profile_step.profile(steps=2, warmup=1, backbone="mobilenet", mode="predict")
    assert "2 step(s)" in result["table"].splitlines()[0]
    total = sum(op["total_ms"] for op in result["ops"].values())
    per_step = float(result["table"].splitlines()[-1].split()[-1])
    assert abs(per_step - total / 2) < 0.01 + 1e-3 * total
    assert result["wall_ms_per_step"] > 0


def test_depthwise_benchmark_times_both_kernels_on_every_shape():
    run = subprocess.run([sys.executable, "-m", "benchmarks.depthwise", "--batch", "2", "--rounds", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    from benchmarks.depthwise import SHAPES

    rows = run.stdout.splitlines()[1:]
    assert len(rows) == len(SHAPES)
    for row, (_, channels, _) in zip(rows, SHAPES):
        fwd_rows, fwd_nine, _, dx_rows, dx_nine, _, chosen = row.split()[-7:]
        assert chosen == ("nine-tap" if channels >= 16 else "rows")
        assert all(float(ms) > 0 for ms in (fwd_rows, fwd_nine, dx_rows, dx_nine))
