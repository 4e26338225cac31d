"""Table and learning curves from the two runs of ``cifar10_mobilenet.py``.

    python -m benchmarks.transfer.report

Reads ``results_minicnn.json`` and ``results_keras.json`` next to this file, writes
``RESULTS.md`` (accuracy on all 10,000 test images and wall time per stage) and
``curves_<framework>.png`` (phase 1 then fine-tuning, with a line where it starts).
"""
from __future__ import annotations

import json
from pathlib import Path

from minicnn.plots import plot_history

HERE = Path(__file__).resolve().parent


def main():
    runs = [json.loads(p.read_text()) for p in (HERE / "results_minicnn.json", HERE / "results_keras.json")
            if p.exists()]
    lines = ["| framework | train images | test images | frozen test acc | fine-tuned test acc | "
             "extract block-11 (s) | head fit (s) | fine-tune fit (s) | total wall (s) | process CPU (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        t = r["times"]
        lines.append(f"| {r['framework']} | {r['train_images']:,} | {r['test_images']:,} | "
                     f"{r['frozen_test_accuracy']:.4f} | {r.get('fine_tuned_test_accuracy', float('nan')):.4f} | "
                     f"{t['extract_block11_s']:.0f} | {t['head_fit_s']:.0f} | {t.get('fine_tune_fit_s', 0):.0f} | "
                     f"{t['total_s']:.0f} | {t.get('process_cpu_s', float('nan')):.0f} |")
        history = {k: r["frozen_history"][k] + r.get("fine_tune_history", {}).get(k, [])
                   for k in r["frozen_history"]}
        plot_history(history, HERE / f"curves_{r['framework']}.png",
                     title=f"CIFAR-10 on frozen MobileNet-0.25 ({r['framework']})", fine_tune_at=r["epochs"])
    header = ["# CIFAR-10 on a frozen, pretrained MobileNet-0.25 (96x96), minicnn vs Keras", "",
              "Same recipe in both (see cifar10_mobilenet.py), accuracy on all 10,000 test images:", "",
              "    python -m benchmarks.transfer.cifar10_mobilenet --framework minicnn --train-images 50000",
              "    python -m benchmarks.transfer.cifar10_mobilenet --framework keras --train-images 50000",
              "    python -m benchmarks.transfer.report", ""]
    header[-1:] = ["", "Wall times are from a 2-core machine shared with other jobs (each run got the CPU share",
                   "shown in its JSON); process CPU time (user + system) compares the two libraries more fairly.", ""]
    speed = HERE / "cached_speedup.json"
    footer = []
    if speed.exists():
        s = json.loads(speed.read_text())
        footer = ["", f"Cached features (python -m benchmarks.transfer.cached_speedup --images {s['images']} "
                  f"--epochs {s['epochs']}): fitting the head through the frozen backbone took "
                  f"{s['fit_through_frozen_backbone_s']:.1f} s, extracting once and fitting on the cache "
                  f"{s['extract_once_then_fit_head_s']:.1f} s ({s['speedup']:.1f}x)."]
    text = "\n".join(header + lines + footer) + "\n"
    (HERE / "RESULTS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
