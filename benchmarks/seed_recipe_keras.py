"""The seed CIFAR-10 recipe in Keras itself, on exactly the data `minicnn train` uses.

Same images (minicnn's loader and its seed-83 train/validation split), same network, Adam 1e-3,
batch 128, 20 epochs; reports the test accuracy after the last epoch and of the epoch with the
best validation accuracy, as `minicnn train` does, so the two runs can be read side by side:

    python -m benchmarks.seed_recipe_keras --out runs/seed-keras
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="runs/seed-keras")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=83)
    args = parser.parse_args(argv)

    import keras  # noqa: PLC0415 - the test extra's TensorFlow

    from minicnn.cli import DEFAULTS, _load  # noqa: PLC0415 - the very same data pipeline

    keras.utils.set_random_seed(args.seed)
    (x_tr, y_tr), (x_val, y_val), (x_test, y_test) = _load(DEFAULTS)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(32, (3, 3), padding="same", activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), padding="same", activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), padding="same", activation="relu"), layers.Flatten(),
        layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    best = keras.callbacks.ModelCheckpoint(str(out / "best.weights.h5"), monitor="val_accuracy",
                                           save_best_only=True, save_weights_only=True)
    start = time.time()
    history = model.fit(x_tr, y_tr, batch_size=128, epochs=args.epochs, validation_data=(x_val, y_val),
                        callbacks=[best], verbose=2)
    wall = time.time() - start
    _, final_acc = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    model.load_weights(out / "best.weights.h5")
    _, best_acc = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    result = {"framework": f"keras {keras.__version__}", "test_accuracy": float(final_acc),
              "best_val_epoch": int(np.argmax(history.history["val_accuracy"])) + 1,
              "best_val_test_accuracy": float(best_acc), "wall_time_s": wall,
              "train_images": len(x_tr), "test_images": len(x_test), "history": history.history}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(f"keras: test accuracy {final_acc:.4f} after {args.epochs} epochs, {best_acc:.4f} at the best "
          f"validation epoch ({result['best_val_epoch']}); wall time {wall:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
