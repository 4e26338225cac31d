"""The Markdown report of ``python -m benchmarks.gpu`` (gpu_report.md), from its results dict."""
from __future__ import annotations

REHEARSAL_NOTE = ("> **CPU REHEARSAL** (`--dry-run`: `MINICNN_DEVICE=cpu`, tiny sizes). It checks that every "
                  "section, command line, table and file works without a GPU. **No number in it is a GPU "
                  "figure**: do not quote them.")
TITLES = {
    "tests": "GPU tests (`pytest -m 'gpu and not slow' tests/test_gpu.py`)",
    "endtoend": "End to end, seed CIFAR-10 CNN, float32",
    "recipe": "Seed recipe (`minicnn train`, real CIFAR-10)",
    "scaling": "Scaling (training)",
    "parity": "Parity cases against the CPU's saved outputs (`benchmarks/gpu/parity_outputs.py`)",
    "kernels": "Per kernel ('override' = the compiled kernel, 'reference' = the plain array code, same device)",
}


def table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _img_s(row) -> str:
    if "img_s" in row:
        return f"{row['img_s']:.0f}"
    return row.get("status") or f"failed: {row.get('error', '?')}"


def _err(value) -> str:
    return "-" if value is None else f"{value:.1e}"


def _tests(result) -> str:
    return f"`{result['summary']}` ({result['seconds']} s; the whole log: pytest_gpu.log)"


def _endtoend(result) -> str:
    rows = result["rows"]
    torch_eager = {r["mode"]: r.get("img_s") for r in rows if r["framework"] == "torch"}
    body = [(r["mode"], r["batch"], r["framework"], _img_s(r),
             f"{r['img_s'] / torch_eager[r['mode']]:.2f}x" if r.get("img_s") and torch_eager.get(r["mode"])
             else "-") for r in rows]
    return table(["mode", "batch", "framework", "img/s", "vs PyTorch eager"], body)


def _scaling(result) -> str:
    body = [(r["batch"], r["framework"], _img_s(r), f"{r['peak_mib']:.0f}" if "peak_mib" in r else "-")
            for r in result["rows"]]
    return table(["batch", "framework", "img/s", "peak GPU MiB"], body)


def _kernels(result) -> str:
    body = [(k, s, impl, f"{ms:.4f}", achieved, "-" if pct is None else f"{pct:.0f}%")
            for k, s, impl, ms, achieved, pct in result["rows"]]
    return f"device: {result['device']}, batch {result['batch']}\n\n" + table(
        ["kernel", "shape", "impl", "ms", "achieved", "of peak"], body)


def _recipe(result) -> str:
    return table(["metric", "value"], [(k, v) for k, v in result.items() if k not in ("status", "section_s")])


def _parity(result) -> str:
    groups = {}
    for row in result["rows"]:
        group = groups.setdefault(row["label"], {"dtypes": set(), "cases": 0, "forward": None, "grad": None,
                                                 "ok": True})
        group["dtypes"].add(row["dtype"])
        group["cases"] += 1
        group["ok"] = group["ok"] and row["ok"]
        for kind in ("forward", "grad"):
            if row[kind] is not None:
                group[kind] = max(group[kind] or 0.0, row[kind])
    body = [(label, ", ".join(sorted(g["dtypes"])), g["cases"], _err(g["forward"]), _err(g["grad"]),
             "yes" if g["ok"] else "**NO**") for label, g in groups.items()]
    errors = [f"- {row['label']} {row['dtype']}: {row['error']}" for row in result["rows"] if "error" in row]
    failed = sum(not row["ok"] for row in result["rows"])
    head = (f"device: {result['device']}; {len(result['rows'])} cases, {failed} outside tolerance "
            f"({', '.join(f'{k} {v:g}' for k, v in result['tolerance'].items())}); error = max|a - b| / max|b| "
            f"against {result['reference']} (recorded with numpy {result['recorded'].get('numpy')})")
    return "\n".join([head, "", table(["case", "dtypes", "cases", "worst forward", "worst gradient / trained",
                                       "within"], body), *([""] + errors if errors else [])])


RENDER = {"tests": _tests, "endtoend": _endtoend, "recipe": _recipe, "scaling": _scaling, "parity": _parity,
          "kernels": _kernels}


def report(results: dict) -> str:
    parts = ["# minicnn on the GPU\n"]
    if results["dry_run"]:
        parts.append(REHEARSAL_NOTE + "\n")
    parts.append(f"command: `{results['command']}`  \nbudget: {results['budget_s']} s wall time, "
                 f"{results['elapsed_s']} s used; files written: {', '.join(results['files'])}\n")
    parts.append(table(["setting", "value"], results["environment"].items()))
    status = [(name, results[name]["status"], results[name].get("section_s", "-")) for name in results["order"]
              if name in results]
    parts.append("\n## Sections (in the order they ran)\n\n" + table(["section", "status", "seconds"], status))
    for name in results["order"]:
        result = results.get(name)
        if result is None:
            continue
        parts.append(f"\n## {TITLES[name]}\n")
        if result["status"].startswith("skipped"):
            parts.append(result["status"])
        elif "error" in result:
            parts.append(f"failed: {result['error']}")
        else:
            parts.append(RENDER[name](result))
    return "\n".join(parts) + "\n"
