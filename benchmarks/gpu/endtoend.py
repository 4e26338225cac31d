"""One end-to-end measurement in this process; prints one JSON line.

    python -m benchmarks.gpu.endtoend FRAMEWORK MODE BATCH [IMAGES]
    FRAMEWORK: minicnn | minicnn-graph | torch | torch-compile;  MODE: train | infer
    IMAGES: per timed epoch (default: 16384, at least 8 batches)

The device is ``MINICNN_DEVICE`` (gpu unless set; the ``--dry-run`` rehearsal
of ``python -m benchmarks.gpu`` sets cpu, where the CUDA graph, the memory
pools and pinned memory do not exist and the rows carry no peak memory).

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
ON_GPU = os.environ.setdefault("MINICNN_DEVICE", "gpu") == "gpu"


def default_images(batch):
    return max(TIMED_IMAGES, 8 * batch)


def run_minicnn(mode, batch, images, graph):
    os.environ["MINICNN_CUDA_GRAPH"] = "1" if graph else "0"
    from ..workload import minicnn_model  # noqa: PLC0415

    if ON_GPU:
        import cupy  # noqa: PLC0415

        synchronize = cupy.cuda.Device().synchronize
    else:
        def synchronize():
            pass

    x, y = random_data(images)
    model = minicnn_model()
    if mode == "train":
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up epoch
        synchronize()
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        synchronize()
    else:
        model.predict(x[:batch * 2], batch_size=batch)
        start = time.perf_counter()
        model.predict(x, batch_size=batch)
    seconds = time.perf_counter() - start
    result = {"img_s": len(x) / seconds}
    if ON_GPU:
        step = getattr(model, "_cuda_graph_step", None)
        if step:
            result.update(graph_replays=step.replays, graph_disabled=step.disabled_reason)
        graph_bytes = sum(c.pool.total_bytes() for c in step.graphs.values()) if step else 0
        result["peak_mib"] = (cupy.get_default_memory_pool().total_bytes() + graph_bytes) / 2**20
    return result


def run_torch(mode, batch, images, compiled):
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    dev = torch.device("cuda" if ON_GPU else "cpu")
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, CLASSES)).to(dev)
    step_model = torch.compile(model) if compiled else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = random_data(images)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y)
    if ON_GPU:
        xt, yt = xt.pin_memory(), yt.pin_memory()

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
        if ON_GPU:
            torch.cuda.synchronize()

    model.train(mode == "train")
    epoch(mode == "train")  # warm-up (and compilation)
    if ON_GPU:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    epoch(mode == "train")
    seconds = time.perf_counter() - start
    result = {"img_s": len(xt) / seconds}
    if ON_GPU:
        result["peak_mib"] = torch.cuda.max_memory_reserved() / 2**20
    return result


def main(argv):
    framework, mode, batch = argv[0], argv[1], int(argv[2])
    images = int(argv[3]) if len(argv) > 3 else default_images(batch)
    try:
        if framework.startswith("minicnn"):
            result = run_minicnn(mode, batch, images, graph=framework == "minicnn-graph")
        else:
            result = run_torch(mode, batch, images, compiled=framework == "torch-compile")
    except ModuleNotFoundError as exc:
        result = {"error": f"{exc.name} not installed"}
    except Exception as exc:  # noqa: BLE001 - reported in the table, the other rows still run
        result = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    print(json.dumps({"framework": framework, "mode": mode, "batch": batch, **result}))


if __name__ == "__main__":
    main(sys.argv[1:])
