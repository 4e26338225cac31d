"""One end-to-end measurement in this process; prints one JSON line.

    python -m benchmarks.gpu.endtoend FRAMEWORK MODE BATCH
    FRAMEWORK: minicnn | minicnn-graph | torch | torch-compile;  MODE: train | infer

Training runs whole epochs the way a user would (``fit``; a plain PyTorch loop
with pinned host batches copied ``non_blocking``); the first epoch warms up
(kernel compilation, memory pools, graph capture) and the second is timed.
Inference times ``predict`` (PyTorch: a no-grad loop), outputs back on the host.
Peak memory: CuPy's pool high-water mark / ``torch.cuda.max_memory_reserved``.
"""
from __future__ import annotations

import json
import os
import sys
import time

from ..workload import CLASSES, random_data

TIMED_IMAGES = 16384  # per timed epoch, at least 8 steps


def _n_images(batch):
    return max(TIMED_IMAGES, 8 * batch)


def run_minicnn(mode, batch, graph):
    os.environ["MINICNN_DEVICE"] = "gpu"
    os.environ["MINICNN_CUDA_GRAPH"] = "1" if graph else "0"
    import cupy  # noqa: PLC0415

    from ..workload import minicnn_model  # noqa: PLC0415

    x, y = random_data(_n_images(batch))
    model = minicnn_model()
    pool = cupy.get_default_memory_pool()
    if mode == "train":
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up epoch
        cupy.cuda.Device().synchronize()
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        cupy.cuda.Device().synchronize()
    else:
        model.predict(x[:batch * 2], batch_size=batch)
        start = time.perf_counter()
        model.predict(x, batch_size=batch)
    seconds = time.perf_counter() - start
    step = getattr(model, "_cuda_graph_step", None)
    extra = {"graph_replays": step.replays, "graph_disabled": step.disabled_reason} if step else {}
    graph_bytes = sum(c.pool.total_bytes() for c in step.graphs.values()) if step else 0
    return {"img_s": len(x) / seconds, "peak_mib": (pool.total_bytes() + graph_bytes) / 2**20, **extra}


def run_torch(mode, batch, compiled):
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    dev = torch.device("cuda")
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, CLASSES)).to(dev)
    step_model = torch.compile(model) if compiled else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = random_data(_n_images(batch))
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).pin_memory()
    yt = torch.from_numpy(y).pin_memory()

    def epoch(train):
        outs = []
        for i in range(0, len(xt), batch):
            xb = xt[i:i + batch].to(dev, non_blocking=True)
            if train:
                yb = yt[i:i + batch].to(dev, non_blocking=True)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(step_model(xb), yb)
                loss.backward()
                opt.step()
            else:
                with torch.no_grad():
                    outs.append(step_model(xb))
        if outs:
            torch.cat(outs).cpu()
        torch.cuda.synchronize()

    model.train(mode == "train")
    epoch(mode == "train")  # warm-up (and compilation)
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    epoch(mode == "train")
    seconds = time.perf_counter() - start
    return {"img_s": len(xt) / seconds, "peak_mib": torch.cuda.max_memory_reserved() / 2**20}


def main(argv):
    framework, mode, batch = argv[0], argv[1], int(argv[2])
    try:
        if framework.startswith("minicnn"):
            result = run_minicnn(mode, batch, graph=framework == "minicnn-graph")
        else:
            result = run_torch(mode, batch, compiled=framework == "torch-compile")
    except Exception as exc:  # noqa: BLE001 - reported in the table, the other rows still run
        result = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    print(json.dumps({"framework": framework, "mode": mode, "batch": batch, **result}))


if __name__ == "__main__":
    main(sys.argv[1:])
