# %% [markdown]
# # 09 · ResNet-34's ResidualUnit: a custom layer with a skip connection
#
# A residual unit computes F(x) with two 3×3 convolutions (each followed by batch normalization) and
# outputs relu(F(x) + x): the input skips past the convolutions. The block then only has to learn the
# *change* to its input, and gradients reach early layers undiminished through the skip — which is what
# let He et al. (2015) train networks 34 to 152 layers deep. When a unit halves the image and doubles the
# channels (stride 2), x no longer fits F(x), so the skip path gets its own 1×1 convolution with stride 2.
#
# This example writes the unit as a custom `Layer` (sublayers as attributes, your own `call`), follows the
# shapes along both paths, counts its parameters by hand, builds ResNet-34 from 16 units and compares its
# parameter count with the one Keras gives for the same code, and explains its cost with `model.explain()`.
#
# Read next: `minicnn/layers/base.py` (`Layer.__setattr__`: how sublayers in a list are tracked),
# `minicnn/layers/normalization.py` (`BatchNormalization`), `minicnn/layers/merging.py` (`Add`),
# `minicnn/models/explain.py` (how a custom layer's cost is summed from its sublayers).
#
# Run: `python examples/09_resnet34_residual_unit.py [--quick] [--out FOLDER]`

# %%
from _common import claim, finish, plt, save, setup

import numpy as np

import minicnn as mc
from minicnn import layers
from minicnn.models.explain import explain_model

args = setup("09_resnet34_residual_unit", "ResNet-34's ResidualUnit: custom layer, skip shapes, parameters")
mc.utils.set_random_seed(0)


# %%
class ResidualUnit(layers.Layer):
    """relu(F(x) + skip(x)) with F = conv3×3 · BN · relu · conv3×3 · BN (Géron, Hands-On ML, ch. 14)."""

    def __init__(self, filters, strides=1, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.activation = mc.activations.get(activation)
        self.main_layers = [
            layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.Activation(activation),
            layers.Conv2D(filters, 3, strides=1, padding="same", use_bias=False),
            layers.BatchNormalization(),
        ]
        self.skip_layers = []
        if strides > 1:  # the image shrinks and the channels grow: reshape x to fit F(x)
            self.skip_layers = [
                layers.Conv2D(filters, 1, strides=strides, padding="same", use_bias=False),
                layers.BatchNormalization(),
            ]

    def call(self, inputs):
        z = inputs
        for layer in self.main_layers:
            z = layer(z)
        skip = inputs
        for layer in self.skip_layers:
            skip = layer(skip)
        return self.activation(z + skip)


# %% [markdown]
# ## Follow the shapes along both paths
# A stride-2 unit from 64 to 128 channels on a 56×56 map (where ResNet-34's second stage begins).

# %%
x = np.random.default_rng(0).standard_normal((1, 56, 56, 64)).astype("float32")
unit = ResidualUnit(128, strides=2)
out = unit(x)
main, skip = x, x
print("main path:")
for layer in unit.main_layers:
    main = layer(main)
    print(f"  {type(layer).__name__:<20} → {tuple(main.shape)}")
print("skip path:")
for layer in unit.skip_layers:
    skip = layer(skip)
    print(f"  {type(layer).__name__:<20} → {tuple(skip.shape)}")
print(f"output relu(F(x) + skip(x))  → {tuple(out.shape)}")
claim("shapes_ok", bool(tuple(main.shape) == tuple(skip.shape) == tuple(out.shape) == (1, 28, 28, 128)))

# %% [markdown]
# ## Its parameters by hand
# conv 3×3 64→128 without bias: 3·3·64·128 = 73,728; conv 3×3 128→128: 147,456; the skip's 1×1 conv 64→128:
# 8,192; each BatchNormalization: 4·128 = 512 (γ and β are trained; the moving mean and variance are not).

# %%
by_hand = 3 * 3 * 64 * 128 + 3 * 3 * 128 * 128 + 1 * 1 * 64 * 128 + 3 * 4 * 128
print(f"ResidualUnit(128, strides=2) on 64 channels: {unit.count_params():,} parameters; by hand {by_hand:,}")
claim("unit_params", unit.count_params())
claim("unit_params_by_hand", by_hand)

# %% [markdown]
# ## ResNet-34: 3 + 4 + 6 + 3 residual units
# Parameter counts do not depend on the image size, so `--quick` builds it for 32×32 images (fast) and the
# full run for ImageNet's 224×224. Keras reports 21,306,826 parameters (21,289,802 trainable) for this exact
# code with `keras.layers` in place of `minicnn.layers`.

# %%
KERAS_RESNET34_PARAMS = 21_306_826  # keras 3: the same ResidualUnit/Sequential code, model.count_params()
size = 32 if args.quick else 224
model = mc.Sequential([
    mc.Input((size, size, 3)),
    layers.Conv2D(64, 7, strides=2, padding="same", use_bias=False),
    layers.BatchNormalization(),
    layers.Activation("relu"),
    layers.MaxPooling2D(3, strides=2, padding="same"),
], name="resnet34")
prev_filters = 64
for filters in [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3:
    model.add(ResidualUnit(filters, strides=1 if filters == prev_filters else 2))
    prev_filters = filters
model.add(layers.GlobalAveragePooling2D())
model.add(layers.Flatten())
model.add(layers.Dense(10, activation="softmax"))
trainable = sum(w.size for w in model.trainable_weights)
print(f"ResNet-34 for {size}×{size} images: {model.count_params():,} parameters ({trainable:,} trainable)")
claim("resnet34_params", model.count_params())
claim("resnet34_params_keras_reference", KERAS_RESNET34_PARAMS)
claim("resnet34_trainable", int(trainable))

e = explain_model(model)
print(f"one {size}×{size} image: {e.forward_macs / 1e9:.2f} G multiply-adds forward "
      f"(He et al. report 3.6 G for 224×224), a training step {e.training_macs / 1e9:.2f} G")
claim("resnet34_forward_gmacs", round(e.forward_macs / 1e9, 3))
lines = []
model.explain(print_fn=lines.append)
units = [ex for ex in e.layers if ex.kind == "ResidualUnit"]
first_stride2 = units[3].name  # the first unit of the 128-filter stage
start = next(i for i, line in enumerate(lines) if line.startswith(f"{first_stride2} "))
print("\n".join(lines[start:start + 12]) + "\n  ...")  # the first stride-2 unit and its first sublayers

fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.5))
colors = {64: "tab:blue", 128: "tab:orange", 256: "tab:green", 512: "tab:red"}
unit_filters = [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3
idx = np.arange(1, len(units) + 1)
a0.bar(idx, [u.params / 1e6 for u in units], color=[colors[f] for f in unit_filters])
a1.bar(idx, [u.macs / 1e6 for u in units], color=[colors[f] for f in unit_filters])
a0.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c, label=f"stage of {f} filters") for f, c in colors.items()])
a0.set_xlabel("residual unit (1 = nearest the input)")
a0.set_ylabel("parameters (millions)")
a0.set_title("ResNet-34: each stage doubles the channels,\nso parameters grow ×4 per stage")
a1.set_xlabel("residual unit (1 = nearest the input)")
a1.set_ylabel(f"multiply-adds per {size}×{size} image (millions)")
a1.set_title("…but the map halves in each direction, so the compute\nper unit stays about the same "
             "(stride-2 units a bit less)")
for ax in (a0, a1):
    ax.set_xticks(idx)
save(fig, args, "resnet34_units.png")

# %% [markdown]
# ## Does it run? One training step on real-shaped data

# %%
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
batch = np.random.default_rng(1).random((2, size, size, 3), dtype=np.float32)
loss = model.train_on_batch(batch, np.array([3, 7]))
print(f"one training step at {size}×{size}, batch 2: loss {loss:.3f}")
claim("train_step_loss_finite", bool(np.isfinite(loss)))
finish(args)
