"""What caching a frozen backbone's features saves, measured side by side in one run.

    python -m benchmarks.transfer.cached_speedup --images 1024 --epochs 5

(a) fit the whole model (Resizing 96x96 -> frozen MobileNet-0.25 -> Flatten/Dense head)
    for ``--epochs`` epochs on images: every epoch runs the backbone again;
(b) ``mc.utils.extract_features`` once, then fit the same head on the cached features.
Writes ``cached_speedup.json`` with both wall times and their ratio.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import minicnn as mc

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE.parents[1] / "data" / "weights" / "mobilenet_1_0_25_224_tf_no_top.h5"


def head(shape):
    inp = mc.Input(shape)
    x = mc.layers.Flatten()(inp)
    x = mc.layers.Dense(128, activation="relu")(x)
    x = mc.layers.Dense(64, activation="relu")(x)
    return mc.Model(inp, mc.layers.Dense(10, activation="softmax")(x))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=5)
    args = p.parse_args(argv)
    mc.utils.set_random_seed(0)
    (x, y), _ = mc.datasets.cifar10.load_data()
    x = mc.applications.mobilenet.preprocess_input(x[:args.images])
    y = y[:args.images].ravel()
    base = mc.applications.MobileNet(input_shape=(96, 96, 3), alpha=0.25, include_top=False, weights=WEIGHTS)
    base.trainable = False
    inp = mc.Input((32, 32, 3))
    backbone = mc.Model(inp, base(mc.layers.Resizing(96, 96)(inp), training=False))
    compile_args = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}

    full_head = head(backbone.output_shape[1:])
    full = mc.Model(inp, full_head(backbone.output))
    full.compile(**compile_args)
    t = time.perf_counter()
    full.fit(x, y, batch_size=128, epochs=args.epochs, verbose=0)
    through_backbone = time.perf_counter() - t

    t = time.perf_counter()
    features = mc.utils.extract_features(backbone, x, batch_size=128)
    cached_head = head(features.shape[1:])
    cached_head.compile(**compile_args)
    cached_head.fit(features, y, batch_size=128, epochs=args.epochs, verbose=0)
    cached = time.perf_counter() - t

    result = {"images": len(x), "epochs": args.epochs, "fit_through_frozen_backbone_s": through_backbone,
              "extract_once_then_fit_head_s": cached, "speedup": through_backbone / cached}
    (HERE / "cached_speedup.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
