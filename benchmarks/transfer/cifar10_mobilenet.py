"""CIFAR-10 on a frozen, pretrained MobileNet-0.25, in minicnn or in Keras, same recipe.

    python -m benchmarks.transfer.cifar10_mobilenet --framework minicnn --train-images 20000
    python -m benchmarks.transfer.cifar10_mobilenet --framework keras   --train-images 20000

Recipe (identical in both libraries):

1. Images: a fixed random subset of the 50,000 training images (seed 0) and all
   10,000 test images; ``preprocess_input`` ([-1, 1]), bilinear ``Resizing`` to 96x96.
2. Backbone: ``MobileNet(alpha=0.25, include_top=False)`` with the ImageNet weights
   in ``data/weights/mobilenet_1_0_25_224_tf_no_top.h5``. It is split after block 11
   (``conv_pw_11_relu``, 6x6x128): the bottom runs *once* over every image
   (``extract_features``) and its output is cached; the top (blocks 12-13) is cheap.
3. Phase 1, frozen backbone: features of blocks 12-13 computed once more from the
   cache, then the seed head Flatten -> Dense 128 relu -> Dense 64 relu -> Dense 10
   softmax trained with Adam (1e-3), batch 128, ``--epochs`` epochs, last 10 % of the
   training subset for validation.
4. Phase 2, fine-tuning (seed 004's flow): blocks 12-13 + the trained head as one
   model on the cached block-11 features; the blocks' convolutions trainable, their
   BatchNorms frozen (so they run in inference mode); recompiled with Adam 1e-4 and
   fitted on from ``initial_epoch=epochs`` for ``--fine-tune-epochs`` more.

Writes ``benchmarks/transfer/results_<framework>.json`` (accuracy on all 10,000 test
images after each phase, wall time of each stage, process CPU time, the machine,
its load average before and after, and the commit the code was at), only from
this script: nothing in it is typed by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import time
from pathlib import Path

import numpy as np

from ..__main__ import machine

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE.parents[1] / "data" / "weights" / "mobilenet_1_0_25_224_tf_no_top.h5"
SPLIT_AFTER = "conv_pw_11_relu"


def load_cifar(train_images, test_images):
    import minicnn as mc  # noqa: PLC0415 - the loader reads the repo's JPEG tarball

    (x_train, y_train), (x_test, y_test) = mc.datasets.cifar10.load_data()
    pick = np.random.RandomState(0).permutation(len(x_train))[:train_images]
    return x_train[pick], y_train[pick].ravel(), x_test[:test_images], y_test[:test_images].ravel()


def minicnn_lib():
    import minicnn as mc  # noqa: PLC0415

    return mc, mc.layers, mc.applications.MobileNet, mc.applications.mobilenet.preprocess_input


def keras_lib():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras  # noqa: PLC0415

    return keras, keras.layers, keras.applications.MobileNet, keras.applications.mobilenet.preprocess_input


def build(lib, layers, mobilenet):
    """(bottom, top_layers): bottom maps 32x32 images to block-11 features."""
    net = mobilenet(input_shape=(96, 96, 3), alpha=0.25, include_top=False, weights=str(WEIGHTS))
    names = [layer.name for layer in net.layers]
    cut = names.index(SPLIT_AFTER)
    trunk = lib.Model(net.inputs[0], net.get_layer(SPLIT_AFTER).output)
    images = lib.Input((32, 32, 3))
    bottom = lib.Model(images, trunk(layers.Resizing(96, 96)(images)))
    return bottom, net.layers[cut + 1:]


def apply(lib, stack, x):
    for layer in stack:
        x = layer(x)
    return x


def head(lib, layers, shape):
    inp = lib.Input(shape)
    x = layers.Flatten()(inp)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dense(64, activation="relu")(x)
    return lib.Model(inp, layers.Dense(10, activation="softmax")(x))


def extract(framework, lib, model, x):
    if framework == "minicnn":
        return lib.utils.extract_features(model, x, batch_size=128)
    return model.predict(x, batch_size=128, verbose=0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--framework", choices=["minicnn", "keras"], required=True)
    p.add_argument("--train-images", type=int, default=20000)
    p.add_argument("--test-images", type=int, default=10000, help="fewer only for a smoke test")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--fine-tune-epochs", type=int, default=5)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    machine_at_start = machine()
    lib, layers, mobilenet, preprocess = (minicnn_lib if args.framework == "minicnn" else keras_lib)()
    lib.utils.set_random_seed(0)
    x_train, y_train, x_test, y_test = load_cifar(args.train_images, args.test_images)
    times, result = {}, {"framework": args.framework, "train_images": len(x_train), "test_images": len(x_test),
                         "epochs": args.epochs, "fine_tune_epochs": args.fine_tune_epochs}
    t0 = time.perf_counter()
    bottom, top_layers = build(lib, layers, mobilenet)
    x_train, x_test = preprocess(x_train.astype("float32")), preprocess(x_test.astype("float32"))

    t = time.perf_counter()
    f_train, f_test = extract(args.framework, lib, bottom, x_train), extract(args.framework, lib, bottom, x_test)
    times["extract_block11_s"] = time.perf_counter() - t
    print(f"block-11 features {f_train.shape} {f_test.shape} in {times['extract_block11_s']:.1f} s", flush=True)

    inp = lib.Input(f_train.shape[1:])
    top = lib.Model(inp, apply(lib, top_layers, inp))
    t = time.perf_counter()
    g_train, g_test = extract(args.framework, lib, top, f_train), extract(args.framework, lib, top, f_test)
    times["extract_top_s"] = time.perf_counter() - t

    clf = head(lib, layers, g_train.shape[1:])
    clf.compile(optimizer=lib.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t = time.perf_counter()
    hist = clf.fit(g_train, y_train, batch_size=128, epochs=args.epochs, validation_split=0.1, verbose=2)
    times["head_fit_s"] = time.perf_counter() - t
    result["frozen_test_accuracy"] = float(clf.evaluate(g_test, y_test, batch_size=256, verbose=0)[1])
    result["frozen_history"] = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    print(f"frozen backbone: test accuracy {result['frozen_test_accuracy']:.4f}", flush=True)

    if args.fine_tune_epochs:
        for layer in top_layers:  # convolutions learn, BatchNorms stay frozen (inference mode)
            layer.trainable = not isinstance(layer, layers.BatchNormalization)
        ft_in = lib.Input(f_train.shape[1:])
        model = lib.Model(ft_in, clf(apply(lib, top_layers, ft_in)))
        model.compile(optimizer=lib.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        # sanity: before any fine-tuning step the combined model equals phase 1's
        result["fine_tune_start_accuracy"] = float(model.evaluate(f_test, y_test, batch_size=256, verbose=0)[1])
        t = time.perf_counter()
        hist = model.fit(f_train, y_train, batch_size=128, epochs=args.epochs + args.fine_tune_epochs,
                         initial_epoch=args.epochs, validation_split=0.1, verbose=2)
        times["fine_tune_fit_s"] = time.perf_counter() - t
        result["fine_tuned_test_accuracy"] = float(model.evaluate(f_test, y_test, batch_size=256, verbose=0)[1])
        result["fine_tune_history"] = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
        print(f"fine-tuned blocks 12-13: test accuracy {result['fine_tuned_test_accuracy']:.4f}", flush=True)

    times["total_s"] = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    times["process_cpu_s"] = usage.ru_utime + usage.ru_stime  # fair on a shared machine, unlike wall time
    result["times"] = times
    result["machine"] = {**machine_at_start, "load_average_at_end": os.getloadavg()}
    result["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                                      text=True, check=False).stdout.strip()
    out = Path(args.out or HERE / f"results_{args.framework}.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if "history" not in k}, indent=2))


if __name__ == "__main__":
    main()
