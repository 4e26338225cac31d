"""The benchmark harness runs end to end (``python -m benchmarks --quick``).

A smoke test only: it checks that every part runs and reports well-formed, positive
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
