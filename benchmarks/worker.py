"""One framework, one process: train and run the seed CNN, print one JSON line.

    python -m benchmarks.worker minicnn|keras|torch --train-images 6400 --infer-images 6400

Each framework runs in a fresh process so that its peak resident memory
(``ru_maxrss``) is its own, not left over from another framework. The same
network is built in each: Conv2D(32)·MaxPool·Conv2D(64)·MaxPool·Conv2D(64)·
Dense(128)·Dense(10), 'same' padding, ReLU, softmax cross-entropy, Adam
(lr 1e-3, ε 1e-7 as Keras), batch 128, float32, random CIFAR-sized images.

Training is one ``fit`` epoch (a plain loop for PyTorch) after a short warm-up
that builds graphs and compiles kernels; inference is ``predict`` on the same
number of images. ``peak_rss_train_mb`` is read right after training.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

from .workload import BATCH, CLASSES, IMAGE_SHAPE, minicnn_model, random_data


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- the three frameworks: (train(x, y), predict(x)) -----------------------------------
def minicnn_runner():
    model = minicnn_model()

    def train(x, y):
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)

    return train, (lambda x: model.predict(x, batch_size=BATCH))


def keras_runner():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras  # noqa: PLC0415 - only in this framework's process

    L = keras.layers
    model = keras.Sequential([
        keras.Input(IMAGE_SHAPE),
        L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(64, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(64, 3, padding="same", activation="relu"), L.Flatten(),
        L.Dense(128, activation="relu"), L.Dense(CLASSES, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    def train(x, y):
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)

    return train, (lambda x: model.predict(x, batch_size=BATCH, verbose=0))


def torch_runner():
    import torch  # noqa: PLC0415 - only in this framework's process
    from torch import nn  # noqa: PLC0415

    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, CLASSES),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()

    def batches(x, y=None):
        xt = torch.from_numpy(x).permute(0, 3, 1, 2)  # NHWC -> NCHW, as a view
        for i in range(0, len(x), BATCH):
            yield xt[i:i + BATCH].contiguous(), (None if y is None else torch.from_numpy(y[i:i + BATCH]))

    def train(x, y):
        model.train()
        order = torch.randperm(len(x)).numpy()
        for xb, yb in batches(x[order], y[order]):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xb), yb).backward()
            opt.step()

    def predict(x):
        model.eval()
        with torch.inference_mode():
            return torch.cat([torch.softmax(model(xb), 1) for xb, _ in batches(x)]).numpy()

    return train, predict


RUNNERS = {"minicnn": minicnn_runner, "keras": keras_runner, "torch": torch_runner}


def measure(framework: str, train_images: int, infer_images: int, warmup_images: int = 2 * BATCH,
            epoch_check: bool = False) -> dict:
    x, y = random_data(max(train_images, infer_images, warmup_images))
    train, predict = RUNNERS[framework]()
    warm = _timed(lambda: train(x[:warmup_images], y[:warmup_images]))
    predict(x[:BATCH])
    train_s = _timed(lambda: train(x[:train_images], y[:train_images]))
    result = {
        "framework": framework, "batch": BATCH, "warmup_s": warm,
        "train_img_s": train_images / train_s, "peak_rss_train_mb": peak_rss_mb(),
    }
    result["infer_img_s"] = infer_images / _timed(lambda: predict(x[:infer_images]))
    if epoch_check:
        result["epochs"] = _epoch_check(train, x, y, train_images)
    return result


def _epoch_check(train, x, y, n) -> dict:
    """Epoch time for n/2 and n images (it should double), and resident memory
    after each of four epochs (it should stay flat)."""
    half = _timed(lambda: train(x[:n // 2], y[:n // 2]))
    rss = []
    full = []
    for _ in range(4):
        full.append(_timed(lambda: train(x[:n], y[:n])))
        rss.append(current_rss_mb())
    return {"half_epoch_s": half, "full_epoch_s": full, "rss_after_epoch_mb": rss,
            "time_ratio_full_to_half": min(full) / half}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("framework", choices=sorted(RUNNERS))
    parser.add_argument("--train-images", type=int, default=50 * BATCH)
    parser.add_argument("--infer-images", type=int, default=50 * BATCH)
    parser.add_argument("--epoch-check", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.framework, args.train_images, args.infer_images, epoch_check=args.epoch_check)
    result["kernels"] = os.environ.get("MINICNN_KERNELS", "") if args.framework == "minicnn" else ""
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
