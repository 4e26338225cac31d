# %% [markdown]
# # 08 · Fine-tuning: unfreeze the top, lower the learning rate, continue
#
# After a new head has learned on frozen pretrained features (example 07), the top layers of the backbone
# can be adapted too. The recipe (Keras' transfer-learning guide, Chollet ch. 8):
#
# 1. train the head with the backbone frozen, until it stops improving;
# 2. unfreeze the *top* of the backbone (the most task-specific layers) and keep the rest frozen;
# 3. recompile with a learning rate about 10× lower — large updates would wreck the pretrained weights —
#    and continue training from where phase 1 stopped (`initial_epoch`).
#
# The backbone is called with `training=False`, so its BatchNormalization layers keep using their ImageNet
# statistics even while their weights are being fine-tuned. The curve marks where fine-tuning began.
#
# Read next: `minicnn/layers/base.py` (`Layer.trainable` setter), `minicnn/models/training.py`
# (`compile` — recompile after changing `trainable`; `fit(initial_epoch=...)`),
# `minicnn/models/explain.py` (how the training cost grows when layers are unfrozen).
#
# Run: `python examples/08_fine_tuning.py [--quick] [--out FOLDER]`

# %%
from _common import cifar10_subset, claim, finish, hold_out, mobilenet_parts, plt, save, setup

import numpy as np

import minicnn as mc
from minicnn import layers
from minicnn.models.explain import explain_model

args = setup("08_fine_tuning", "Unfreeze the top of a pretrained backbone and continue with a lower learning rate")
mc.utils.set_random_seed(0)
n_train, n_val, n_test, size, head_epochs, tune_epochs = (128, 64, 64, 64, 3, 2) if args.quick else (2000, 500, 500, 96, 8, 4)
(x_train, y_train), (x_test, y_test) = cifar10_subset(n_train + n_val, n_test)
(x_train, y_train), (x_val, y_val) = hold_out(x_train * 255.0, y_train, n_val)
x_test = x_test * 255.0

prepare, base = mobilenet_parts(size)  # MobileNet 0.25 with its ImageNet weights (see example 07)
inputs = mc.Input((32, 32, 3))
outputs = layers.Dense(10, activation="softmax", name="head")(base(prepare(inputs), training=False))
model = mc.Model(inputs, outputs, name="mobilenet_fine_tune")

# %% [markdown]
# ## Phase 1: the head alone, backbone frozen
# As example 07 showed, fitting a head on cached features gives exactly the head that fitting the frozen
# model would give, many times faster; so phase 1 trains it that way and then puts it into the model.

# %%
base.trainable = False
trainable_before = sum(w.size for w in model.trainable_weights)
cost_frozen = explain_model(model).training_macs
head = model.get_layer("head")
f_train = mc.utils.extract_features(base, prepare.predict(x_train, verbose=0), batch_size=64)
f_val = mc.utils.extract_features(base, prepare.predict(x_val, verbose=0), batch_size=64)
f_test = mc.utils.extract_features(base, prepare.predict(x_test, verbose=0), batch_size=64)
head_model = mc.Sequential([mc.Input((f_train.shape[1],)), head])  # the very same Dense layer
head_model.compile(optimizer=mc.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"])
phase1 = head_model.fit(f_train, y_train, batch_size=32, epochs=head_epochs, validation_data=(f_val, y_val),
                        verbose=2).history
_, head_accuracy = head_model.evaluate(f_test, y_test, verbose=0)
model.compile(optimizer=mc.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
_, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"the whole model with the trained head: test accuracy {accuracy:.3f} "
      f"(the head on cached features: {head_accuracy:.3f})")
claim("head_in_model_same_accuracy", bool(abs(accuracy - head_accuracy) < 1e-6))

# %% [markdown]
# ## Phase 2: unfreeze the last two depthwise-separable blocks, lr 1e-3 → 1e-4
# MobileNet's layers are named as in Keras; blocks 12 and 13 are `conv_dw_12 … conv_pw_13_relu`.

# %%
base.trainable = True
top = [layer for layer in base.layers if layer.name.startswith(("conv_dw_12", "conv_pw_12", "conv_dw_13",
                                                                "conv_pw_13"))]
for layer in base.layers:
    if all(layer is not t for t in top):
        layer.trainable = False
trainable_after = sum(w.size for w in model.trainable_weights)
cost_tuning = explain_model(model).training_macs
print(f"trainable parameters: {trainable_before:,} → {trainable_after:,} (unfrozen: {[l.name for l in top]})")
print(f"training step per image: {cost_frozen / 1e6:.1f} M → {cost_tuning / 1e6:.1f} M multiply-adds "
      "(now gradients flow back into the top blocks)")
claim("trainable_before_unfreeze", int(trainable_before))
claim("trainable_after_unfreeze", int(trainable_after))

model.compile(optimizer=mc.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
phase2 = model.fit(x_train, y_train, batch_size=32, epochs=head_epochs + tune_epochs, initial_epoch=head_epochs,
                   validation_data=(x_val, y_val), verbose=2).history
claim("fine_tune_started_at_epoch", head_epochs)
claim("val_accuracy", phase1["val_accuracy"] + phase2["val_accuracy"])

# %%
fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.5))
epochs = np.arange(1, head_epochs + tune_epochs + 1)
for ax, key, label, y in [(a0, "loss", "cross-entropy loss", 0.98), (a1, "accuracy", "accuracy", 0.02)]:
    ax.plot(epochs, phase1[key] + phase2[key], "o-", label="training")
    ax.plot(epochs, phase1[f"val_{key}"] + phase2[f"val_{key}"], "s-", label=f"validation ({n_val} held-out training images)")
    ax.axvline(head_epochs + 0.5, color="black", ls="--", lw=1)
    ax.axvspan(head_epochs + 0.5, epochs[-1] + 0.3, color="tab:green", alpha=0.08)
    ax.text(head_epochs + 0.55, y, "fine-tuning begins: top 2 blocks\nunfrozen, lr 1e-3 → 1e-4",
            transform=ax.get_xaxis_transform(), fontsize=8, va="top" if y > 0.5 else "bottom",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    ax.set_xlabel("epoch")
    ax.set_ylabel(label)
    ax.set_xticks(epochs)
    ax.legend(fontsize=8, loc="upper left")
a0.set_title(f"MobileNet 0.25 (ImageNet) on {n_train:,} CIFAR-10 images at {size}×{size}:\n"
             "head only, then fine-tuning")
a1.set_title(f"Accuracy (trainable parameters {trainable_before:,} → {trainable_after:,})")
save(fig, args, "fine_tuning.png")
finish(args)
