# %% [markdown]
# # 04 · The seed CIFAR-10 CNN, three ways
#
# Keras (and minicnn) offer three ways to describe the same network: a `Sequential` stack, the
# functional API (call layers on symbolic `Input` tensors, then `Model(inputs, outputs)`), and
# subclassing `Model` with layers as attributes and your own `call`. They are three spellings of one
# computation: this example builds the reference CNN all three ways, shows that the summaries agree
# (582,026 parameters), copies one set of weights into all three to show identical outputs, then
# trains each briefly on real CIFAR-10 from the same start and draws their learning curves.
#
# Read next: `minicnn/models/sequential.py` (`Sequential.add`, `_build_graph`), `minicnn/models/model.py`
# (`Model._init_graph`, `Model.build`), `minicnn/models/functional.py` (`run_graph`),
# `minicnn/models/training.py` (`Trainer.train_step`, `fit`), `minicnn/applications/seed_cnn.py`.
#
# Run: `python examples/04_seed_cnn_three_ways.py [--quick] [--out FOLDER]`

# %%
from _common import cifar10_subset, claim, finish, hold_out, plt, save, setup

import numpy as np

import minicnn as mc
from minicnn import layers

args = setup("04_seed_cnn_three_ways", "Sequential vs functional vs subclassed seed CNN")
mc.utils.set_random_seed(0)

# %% [markdown]
# ## Three spellings

# %%
def sequential_cnn():
    """The reference model exactly as ``minicnn/applications/seed_cnn.py`` builds it: a Sequential list
    Input · Conv2D(32) · MaxPool · Conv2D(64) · MaxPool · Conv2D(64) · Flatten · Dense(128) · Dense(10)."""
    return mc.applications.seed_cnn.cifar10_cnn(name="sequential_cnn")


def functional_cnn():
    inputs = mc.Input((32, 32, 3))
    x = layers.Conv2D(32, (3, 3), padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Conv2D(64, (3, 3), padding="same", activation="relu")(x)
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Conv2D(64, (3, 3), padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return mc.Model(inputs, outputs, name="functional_cnn")


class SubclassedCNN(mc.Model):
    """Layers are attributes (tracked automatically); ``call`` says how data flows."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv2D(32, (3, 3), padding="same", activation="relu")
        self.pool1 = layers.MaxPooling2D((2, 2))
        self.conv2 = layers.Conv2D(64, (3, 3), padding="same", activation="relu")
        self.pool2 = layers.MaxPooling2D((2, 2))
        self.conv3 = layers.Conv2D(64, (3, 3), padding="same", activation="relu")
        self.flatten = layers.Flatten()
        self.dense = layers.Dense(128, activation="relu")
        self.classifier = layers.Dense(10, activation="softmax")

    def call(self, x):
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = self.flatten(self.conv3(x))
        return self.classifier(self.dense(x))


models = {"Sequential": sequential_cnn(), "Functional": functional_cnn(),
          "Subclassed": SubclassedCNN(name="subclassed_cnn")}
models["Subclassed"].build((None, 32, 32, 3))  # a subclassed model learns its shapes from a first call
for model in models.values():
    model.summary()

# %% [markdown]
# ## Same table, same weights, same outputs
# The functional model lists its `InputLayer`; the other two do not (as in Keras). Parameter counts per
# weighted layer and in total agree; loading one model's weights into the others gives identical outputs.

# %%
def weighted_counts(model):
    return [layer.count_params() for layer in model.layers if layer.weights]


counts = {name: weighted_counts(m) for name, m in models.items()}
for name, c in counts.items():
    print(f"{name:<11} params per weighted layer {c}, total {models[name].count_params():,}")
claim("param_totals", [m.count_params() for m in models.values()])
claim("same_param_counts", all(c == counts["Sequential"] for c in counts.values()))

start = models["Sequential"].get_weights()
for model in models.values():
    model.set_weights(start)
probe = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
outs = {name: m.predict(probe, verbose=0) for name, m in models.items()}
diff = max(float(np.abs(o - outs["Sequential"]).max()) for o in outs.values())
print(f"same weights → max output difference between the three: {diff:.1e}")
claim("same_weights_max_output_diff", diff)

# %% [markdown]
# ## A short fit on real CIFAR-10, from the same start
# Each model starts from the same weights and sees the same shuffled batches (the seed is reset
# before each fit), so the three curves should lie on top of each other.

# %%
n_train, n_val, epochs, batch = (128, 64, 2, 32) if args.quick else (3000, 1000, 4, 64)
(x_all, y_all), _ = cifar10_subset(n_train + n_val, 0)
(x, y), (x_val, y_val) = hold_out(x_all, y_all, n_val)


class BatchLoss(mc.callbacks.Callback):
    """Records the loss of every batch. (``logs["loss"]`` is the running mean of the epoch so far,
    as Keras logs it; ``logs.batch_loss`` is this batch's own loss.)"""

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs.batch_loss))


histories, batch_losses = {}, {}
for name, model in models.items():
    model.set_weights(start)
    model.compile(optimizer=mc.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    mc.utils.set_random_seed(42)
    recorder = BatchLoss()
    histories[name] = model.fit(x, y, batch_size=batch, epochs=epochs, validation_data=(x_val, y_val),
                                callbacks=[recorder], verbose=0).history
    batch_losses[name] = recorder.losses
    h = histories[name]
    print(f"{name:<11} loss {h['loss'][0]:.3f} → {h['loss'][-1]:.3f}, val accuracy "
          f"{h['val_accuracy'][0]:.3f} → {h['val_accuracy'][-1]:.3f}")

final = [histories[n]["loss"][-1] for n in models]
claim("final_train_losses", final)
claim("final_loss_spread", float(max(final) - min(final)))
claim("loss_decreased", bool(all(h["loss"][-1] < h["loss"][0] for h in histories.values())))

fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.5))
steps_per_epoch = len(batch_losses["Sequential"]) // epochs
for (name, losses), style in zip(batch_losses.items(), ["-", "--", ":"]):
    a0.plot(np.arange(1, len(losses) + 1), losses, style, lw=2, label=name)
    h = histories[name]
    a1.plot(np.arange(1, epochs + 1), h["accuracy"], style, marker="o", label=f"{name}: training")
    a1.plot(np.arange(1, epochs + 1), h["val_accuracy"], style, marker="s", label=f"{name}: validation")
for e in range(1, epochs):
    a0.axvline(e * steps_per_epoch + 0.5, color="gray", lw=0.5)
a0.set_xlabel(f"training step (batch of {batch}; gray lines: epoch ends, {steps_per_epoch} steps each)")
a0.set_ylabel("cross-entropy loss of the batch")
a0.set_title(f"Three APIs, one computation: the curves coincide\n(training on {n_train:,} CIFAR-10 images)")
a0.legend()
a1.set_xlabel("epoch")
a1.set_ylabel("accuracy")
a1.set_xticks(range(1, epochs + 1))
a1.set_title(f"Accuracy per epoch (validation: {n_val:,} held-out training images;\nchance is 0.10)")
a1.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.14))
save(fig, args, "learning_curves.png")
finish(args)
