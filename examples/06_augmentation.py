# %% [markdown]
# # 06 · Data augmentation: one image, many training views
#
# A CNN that sees the same 50,000 images every epoch starts to memorise them. Augmentation layers show it
# a slightly different version of each image every time — mirrored, rotated a little, zoomed, shifted —
# so it has to learn what stays the same (the class) under changes that do not matter. They act only in
# training (`fit`); at inference (`predict`, `evaluate`) they pass the image through untouched.
#
# Every geometric augmentation is one affine map from output pixels back to input positions, sampled
# bilinearly; where the map points outside the image, `fill_mode` decides what to show. This example draws
# one CIFAR-10 image under each augmentation layer, and under each fill mode.
#
# Read next: `minicnn/layers/preprocessing.py` (`RandomFlip`, `RandomRotation.matrices`,
# `RandomZoom`, `RandomTranslation`, `affine_transform`), `minicnn/layers/base.py` (`training_scope`).
#
# Run: `python examples/06_augmentation.py [--quick] [--out FOLDER]`

# %%
from _common import cifar10_subset, claim, finish, plt, save, setup

import numpy as np

import minicnn as mc
from minicnn import layers
from minicnn.datasets.cifar10 import CLASS_NAMES

args = setup("06_augmentation", "A grid of one image under each augmentation layer")
mc.utils.set_random_seed(0)

(_, _), (x_test, y_test) = cifar10_subset(0, 50)
idx = int(np.flatnonzero(y_test[:, 0] == CLASS_NAMES.index("horse"))[0])  # an asymmetric subject
image = x_test[idx:idx + 1]

# %% [markdown]
# ## Each layer, several random draws (training=True)

# %%
AUGMENTATIONS = {
    "RandomFlip('horizontal')": layers.RandomFlip("horizontal"),
    "RandomRotation(0.1)\n(up to ±36°)": layers.RandomRotation(0.1),
    "RandomZoom(0.3)\n(±30 %)": layers.RandomZoom(0.3),
    "RandomTranslation(0.15, 0.15)\n(±15 % of H and W)": layers.RandomTranslation(0.15, 0.15),
    "all four in a Sequential": mc.Sequential([
        layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
        layers.RandomZoom(0.3), layers.RandomTranslation(0.15, 0.15)]),
}
draws = 4 if args.quick else 7
fig, axes = plt.subplots(len(AUGMENTATIONS), draws + 1, figsize=(1.6 * (draws + 1) + 1.5, 1.75 * len(AUGMENTATIONS)))
unchanged_at_inference = True
for row, (name, layer) in zip(axes, AUGMENTATIONS.items()):
    batch = np.repeat(image, draws, axis=0)
    augmented = layer(batch, training=True).numpy()          # fresh random parameters per image
    inference = layer(batch, training=False).numpy()         # identity outside training
    unchanged_at_inference &= bool(np.array_equal(inference, batch))
    row[0].imshow(image[0])
    row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    for ax, view in zip(row[1:], augmented):
        ax.imshow(np.clip(view, 0, 1))
    for ax in row:
        ax.set_xticks([])
        ax.set_yticks([])
axes[0, 0].set_title("original", fontsize=9)
for d in range(draws):
    axes[0, d + 1].set_title(f"training view {d + 1}", fontsize=9)
fig.suptitle("One CIFAR-10 image (32×32) as the model sees it in different epochs", fontsize=11)
save(fig, args, "augmentation_grid.png")
claim("layers_shown", len(AUGMENTATIONS))
claim("identity_at_inference", unchanged_at_inference)

# %% [markdown]
# ## Fill modes: what appears where the image has no pixels
# A fixed 45° rotation uncovers the corners. 'reflect' mirrors the image at its border (Keras' default),
# 'wrap' tiles it, 'nearest' repeats the edge pixel, 'constant' paints `fill_value` (black here).

# %%
modes = ["reflect", "wrap", "nearest", "constant"]
fig, axes = plt.subplots(1, len(modes) + 1, figsize=(2.3 * (len(modes) + 1), 2.8))
axes[0].imshow(image[0])
axes[0].set_title("original", fontsize=9)
for ax, mode in zip(axes[1:], modes):
    rotate = layers.RandomRotation((0.125, 0.125), fill_mode=mode)  # exactly +45° (0.125 of a turn)
    ax.imshow(np.clip(rotate(image, training=True).numpy()[0], 0, 1))
    ax.set_title(f"fill_mode='{mode}'", fontsize=9)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("RandomRotation by exactly 45°: the four ways to fill the uncovered corners", fontsize=10)
save(fig, args, "fill_modes.png")
claim("fill_modes_shown", len(modes))
finish(args)
