# %% [markdown]
# # 07 · Transfer learning: frozen pretrained features and a new head
#
# A network trained on ImageNet's 1.2 million photos has learned edges, textures and object parts that are
# useful far beyond ImageNet. Transfer learning keeps those layers *frozen* (`trainable = False`) and trains
# only a small new *head* (here one Dense layer) for the new task: CIFAR-10 with a few hundred images.
#
# Because the frozen backbone never changes, its output for an image is the same every epoch. Fitting the
# whole model recomputes it each time; `mc.utils.extract_features` computes it once, and the head then trains
# on the cached feature vectors — the same result, in a fraction of the time. This example measures both,
# checks they train the very same head, and compares pretrained with randomly initialised backbone features.
#
# The weights are real: MobileNet v1 (alpha 0.25) trained on ImageNet, the Keras file carried in
# `data/weights/mobilenet_1_0_25_224_tf_no_top.h5`.
#
# Read next: `minicnn/applications/mobilenet.py` (`MobileNet`, `preprocess_input`),
# `minicnn/applications/_common.py` (`load_weight_file`), `minicnn/utils.py` (`extract_features`),
# `minicnn/layers/base.py` (`Layer.trainable`), `minicnn/layers/depthwise.py` (`DepthwiseConv2D`).
#
# Run: `python examples/07_frozen_features.py [--quick] [--out FOLDER]`

# %%
import time

from _common import cifar10_subset, claim, finish, mobilenet_parts, plt, save, setup

import numpy as np

import minicnn as mc
from minicnn import layers

args = setup("07_frozen_features", "Frozen MobileNet features + a new head; the cached-features speed-up")

n_train, n_test, size, head_epochs, full_epochs = (128, 64, 64, 5, 1) if args.quick else (2000, 500, 96, 15, 2)
(x_train, y_train), (x_test, y_test) = cifar10_subset(n_train, n_test)
x_train, x_test = x_train * 255.0, x_test * 255.0  # MobileNet's preprocess_input expects 0..255


# `mobilenet_parts` (examples/_common.py) builds two small models: `prepare` upsamples the 32×32 images
# and maps 0..255 to [-1, 1] as MobileNet's preprocess_input does; `base` is MobileNet 0.25 without its
# ImageNet classifier, pooled to one 256-vector per image.
prepare, base = mobilenet_parts(size)

# %% [markdown]
# ## The frozen backbone
# `trainable = False` freezes every weight inside; `model.explain()` then shows no dL/dW for the backbone
# and no dL/dx below the head: a training step costs little more than a forward pass.

# %%
base.trainable = False
before = [w.copy() for w in base.get_weights()]
inputs = mc.Input((32, 32, 3))
features = base(prepare(inputs), training=False)  # BatchNorm in inference mode, as Keras recommends
mc.utils.set_random_seed(0)
head = layers.Dense(10, activation="softmax", name="head")
model = mc.Model(inputs, head(features), name="mobilenet_transfer")
e = mc.models.explain.explain_model(model)
print(f"{model.count_params():,} parameters, {e.trainable_params:,} trainable (the head); one image costs "
      f"{e.forward_macs / 1e6:.1f} M multiply-adds forward and {e.training_macs / 1e6:.1f} M in a training step")
claim("trainable_params", int(e.trainable_params))
start_head = head.get_weights()

# %% [markdown]
# ## Way 1: fit the whole model (the backbone runs again every epoch)

# %%
model.compile(optimizer=mc.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
mc.utils.set_random_seed(1)
t0 = time.perf_counter()
model.fit(x_train, y_train, batch_size=32, epochs=full_epochs, verbose=0)
full_epoch_s = (time.perf_counter() - t0) / full_epochs
after_full = head.get_weights()
claim("frozen_base_unchanged", all(np.array_equal(a, b) for a, b in zip(before, base.get_weights())))
claim("full_epoch_s", round(full_epoch_s, 3))
print(f"whole model: {full_epoch_s:.2f} s per epoch")

# %% [markdown]
# ## Way 2: extract the features once, fit only the head
# Same data, same start, same batch order: the head must come out the same as in way 1.

# %%
t0 = time.perf_counter()
f_train = mc.utils.extract_features(base, prepare.predict(x_train, verbose=0), batch_size=64)
extract_s = time.perf_counter() - t0  # the training images only: what way 1 also processes
f_test = mc.utils.extract_features(base, prepare.predict(x_test, verbose=0), batch_size=64)
print(f"features of the training images: {f_train.shape} in {extract_s:.2f} s (once)")
direct = mc.Model(inputs, features).predict(x_test[:8], verbose=0)
claim("features_match_full_model", float(np.abs(direct - f_test[:8]).max()))

head_model = mc.Sequential([mc.Input((f_train.shape[1],)), layers.Dense(10, activation="softmax")])
head_model.set_weights(start_head)
head_model.compile(optimizer=mc.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"])
mc.utils.set_random_seed(1)
t0 = time.perf_counter()
head_model.fit(f_train, y_train, batch_size=32, epochs=full_epochs, verbose=0)
cached_epoch_s = (time.perf_counter() - t0) / full_epochs
same_head = max(float(np.abs(a - b).max()) for a, b in zip(after_full, head_model.get_weights()))
print(f"cached features: {cached_epoch_s * 1e3:.1f} ms per epoch (vs {full_epoch_s:.2f} s): "
      f"{full_epoch_s / cached_epoch_s:.0f}× faster; head weights differ by at most {same_head:.1e}")
claim("cached_epoch_s", round(cached_epoch_s, 5))
claim("head_same_as_full_fit_max_diff", same_head)
claim("extract_s", round(extract_s, 3))

# %% [markdown]
# ## Do the pretrained weights matter?
# Train the same head longer on the cached features, and on features of a randomly initialised MobileNet.

# %%
_, random_base = mobilenet_parts(size, weights=None)
r_train = mc.utils.extract_features(random_base, prepare.predict(x_train, verbose=0), batch_size=64)
r_test = mc.utils.extract_features(random_base, prepare.predict(x_test, verbose=0), batch_size=64)
curves = {}
for name, (ftr, fte) in {"pretrained ImageNet features": (f_train, f_test),
                         "random-init MobileNet features": (r_train, r_test)}.items():
    head_model.set_weights(start_head)
    head_model.compile(optimizer=mc.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
    mc.utils.set_random_seed(2)
    h = head_model.fit(ftr, y_train, batch_size=32, epochs=head_epochs, validation_data=(fte, y_test),
                       verbose=0).history
    curves[name] = h["val_accuracy"]
    print(f"{name}: test accuracy after {head_epochs} epochs {h['val_accuracy'][-1]:.3f}")
claim("pretrained_test_acc", curves["pretrained ImageNet features"][-1])
claim("random_test_acc", curves["random-init MobileNet features"][-1])

fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.5))
epochs = np.arange(0, head_epochs + 1)
a0.plot(epochs, full_epoch_s * epochs, "o-", color="tab:red", label="fit the whole model: backbone every epoch")
a0.plot(epochs, extract_s + cached_epoch_s * epochs, "o-", color="tab:green",
        label="extract features once, then fit the head")
a0.set_xlabel("epochs of head training")
a0.set_ylabel("seconds (measured time per epoch × epochs)")
a0.set_title(f"Cached features: {full_epoch_s / cached_epoch_s:.0f}× faster per epoch\n"
             f"({n_train:,} CIFAR-10 images at {size}×{size}, MobileNet 0.25 frozen)")
a0.legend(fontsize=8)
for name, acc in curves.items():
    a1.plot(np.arange(1, head_epochs + 1), acc, "o-", label=name)
a1.axhline(0.1, color="gray", ls=":", label="chance (10 classes)")
a1.set_xlabel("epoch")
a1.set_xticks(np.arange(1, head_epochs + 1))
a1.set_ylabel(f"test accuracy ({n_test} CIFAR-10 test images)")
a1.set_title("The same Dense head on frozen features:\npretrained weights vs random ones")
a1.legend(fontsize=8)
save(fig, args, "frozen_features.png")
finish(args)
