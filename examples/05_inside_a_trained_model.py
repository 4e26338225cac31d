# %% [markdown]
# # 05 · Inside a trained CNN: filters, feature maps, mistakes
#
# Train the seed CNN on real CIFAR-10 and open it up. The first layer's 32 filters are 3×3×3 arrays of
# weights: drawn as tiny colour images they show what the layer looks for (edges and colour blobs once
# trained). Running a few test images through the model one layer at a time shows the feature maps each
# conv layer produces: 32×32 maps that still look like the image, then 16×16 and 8×8 maps that respond to
# larger, more abstract patterns. A confusion matrix shows which classes the model mixes up.
#
# `--quick` trains on a few hundred images (the filters are then still mostly random); the full run trains
# for a few minutes. `--weights FILE` loads weights saved by `minicnn train` or `model.save_weights`
# instead of training.
#
# Read next: `minicnn/layers/convolutional.py` (`Conv2D`: kernel shape (kh, kw, c_in, c_out)),
# `minicnn/models/sequential.py` (`Sequential.call`: one layer after another), `minicnn/plots.py`
# (`confusion_matrix`, `plot_confusion_matrix`), `minicnn/models/training.py` (`fit`, `predict`).
#
# Run: `python examples/05_inside_a_trained_model.py [--quick] [--out FOLDER] [--weights FILE]`

# %%
import argparse

from _common import cifar10_subset, claim, finish, picture, plt, save, setup

import numpy as np

import minicnn as mc
from minicnn import plots
from minicnn.datasets.cifar10 import CLASS_NAMES

args = setup("05_inside_a_trained_model", "Filters, feature maps and a confusion matrix of the seed CNN")
extra = argparse.ArgumentParser()
extra.add_argument("--weights", default=None, help="a .weights.h5 file of the seed CNN to load instead of training")
args.weights = extra.parse_known_args()[0].weights

# %% [markdown]
# ## Train (or load) the seed CNN

# %%
mc.utils.set_random_seed(0)
n_train, n_test, epochs = (384, 300, 2) if args.quick else (6000, 2000, 4)
(x_train, y_train), (x_test, y_test) = cifar10_subset(n_train, n_test)
model = mc.applications.seed_cnn.cifar10_cnn()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
if args.weights:
    model.load_weights(args.weights)
    print(f"loaded {args.weights}")
else:
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=2)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy on {n_test} CIFAR-10 test images: {accuracy:.3f} (chance: 0.100)")
claim("test_accuracy", float(accuracy))

# %% [markdown]
# ## The first layer's filters
# The kernel has shape (3, 3, 3, 32): for each of 32 filters a 3×3 patch with a weight per colour.
# Scaled to [0, 1] per filter, each is a tiny RGB image of the pattern it responds to most.

# %%
kernel = model.layers[0].kernel.numpy()
claim("first_kernel_shape", list(kernel.shape))
fig, axes = plt.subplots(4, 8, figsize=(9, 5))
for f, ax in enumerate(axes.ravel()):
    w = kernel[:, :, :, f]
    ax.imshow((w - w.min()) / (w.max() - w.min() + 1e-12), interpolation="nearest")
    ax.set_title(f"filter {f}", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"First Conv2D layer: 32 filters of 3×3 pixels × RGB (each scaled to its own range); "
             f"trained on {n_train:,} images" if not args.weights else "First Conv2D layer: 32 filters (loaded)")
save(fig, args, "first_layer_filters.png")

# %% [markdown]
# ## Feature maps, layer by layer
# A `Sequential` model is a list of layers; calling them one after another is exactly what `model(x)`
# does. We keep the output of each Conv2D (after its ReLU) and draw its first 8 channels.

# %%
images, labels = x_test[:3], y_test[:3, 0]
feature_maps, x = {}, images
for layer in model.layers:
    x = layer(x, training=False)
    if isinstance(layer, mc.layers.Conv2D):
        feature_maps[layer.name] = x.numpy()
shapes = [list(v.shape[1:]) for v in feature_maps.values()]
print("feature map shapes (H, W, channels):", shapes)
claim("feature_map_shapes", shapes)
claim("layerwise_equals_model", float(np.abs(x.numpy() - model.predict(images, verbose=0)).max()))

channels = 8
fig, axes = plt.subplots(len(images) * len(feature_maps), channels + 1,
                         figsize=(1.25 * (channels + 1), 1.35 * len(images) * len(feature_maps)))
for i, image in enumerate(images):
    for j, (name, maps) in enumerate(feature_maps.items()):
        row = axes[i * len(feature_maps) + j]
        row[0].imshow(image)
        row[0].set_ylabel(f"{name}\n{maps.shape[1]}×{maps.shape[2]}", fontsize=7)
        if j == 0:
            row[0].set_title(f"input: {CLASS_NAMES[labels[i]]}", fontsize=8)
        for c in range(channels):
            row[c + 1].imshow(maps[i, :, :, c], cmap="viridis")
            if i == 0 and j == 0:
                row[c + 1].set_title(f"channel {c}", fontsize=8)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
fig.suptitle("Feature maps (after ReLU) of each Conv2D for three test images: first 8 channels;\n"
             "bright = strong response. Each conv sees a larger part of the image than the one before.", fontsize=9)
save(fig, args, "feature_maps.png")

# %% [markdown]
# ## Which classes get confused?
# Row = true class, column = predicted class; the diagonal counts the correct answers.

# %%
predicted = model.predict(x_test, verbose=0).argmax(axis=1)
counts = plots.confusion_matrix(y_test, predicted, num_classes=10)
claim("confusion_total", int(counts.sum()))
claim("confusion_accuracy_matches", bool(abs(np.trace(counts) / counts.sum() - accuracy) < 1e-6))
plots.plot_confusion_matrix(counts, CLASS_NAMES, picture(args, "confusion_matrix.png"),
                               title=f"Seed CNN on {n_test:,} CIFAR-10 test images")
finish(args)
