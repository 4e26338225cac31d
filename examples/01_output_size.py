# %% [markdown]
# # 01 · How big is a layer's output?
#
# A window of k pixels (dilated by d, so it spans k_eff = (k−1)·d + 1 pixels) slides over N pixels
# with stride s after p pixels of padding on each side. It fits in
#
#     N_out = floor((N + 2p − k_eff) / s) + 1
#
# places. 'valid' means p = 0; Keras' 'same' chooses the padding so that N_out = ceil(N/s), and when
# the total padding is odd the extra pixel goes after (bottom/right). This example prints the formula
# with the numbers filled in for several layers, checks every answer against the shape a real minicnn
# layer produces, and plots N_out against N.
#
# Read next: `minicnn/ops/shapes.py` (`output_length`, `same_padding`, `WindowGeometry.make`),
# `minicnn/layers/convolutional.py` (`Conv2D.compute_output_shape`) and
# `minicnn/models/explain.py` (`axis_size_formula`, what `model.explain()` prints).
#
# Run: `python examples/01_output_size.py [--quick] [--out FOLDER]`

# %%
from _common import claim, finish, plt, save, setup

import numpy as np

import minicnn as mc
from minicnn import layers
from minicnn.models.explain import axis_size_formula
from minicnn.ops.shapes import same_padding

args = setup("01_output_size", "Output-size formula vs real layer shapes")

# %% [markdown]
# ## The formula with numbers, next to the real layer
# Each row builds a real `Conv2D` (or `MaxPooling2D`), runs it on a zero image and reads the output shape.

# %%
CONFIGS = [  # (layer, k, s, padding, dilation)
    ("Conv2D", 3, 1, "same", 1),
    ("Conv2D", 3, 1, "valid", 1),
    ("Conv2D", 5, 1, "valid", 1),
    ("Conv2D", 3, 2, "same", 1),
    ("Conv2D", 3, 2, "valid", 1),
    ("Conv2D", 3, 1, "valid", 2),
    ("Conv2D", 3, 1, "same", 2),
    ("MaxPooling2D", 2, 2, "valid", 1),
    ("MaxPooling2D", 3, 2, "same", 1),
]


def real_layer(kind, k, s, padding, d):
    if kind == "Conv2D":
        return layers.Conv2D(1, k, strides=s, padding=padding, dilation_rate=d)
    return layers.MaxPooling2D(k, strides=s, padding=padding)


def real_size(kind, k, s, padding, d, n):
    """Run the real layer on a 1×n×n×1 image of zeros and read its output height."""
    x = np.zeros((1, n, n, 1), dtype="float32")
    return real_layer(kind, k, s, padding, d)(x).shape[1]


n = 32
print(f"{'layer':<34} formula (N = {n})")
mismatches = 0
for kind, k, s, padding, d in CONFIGS:
    lines = axis_size_formula(n, k, s, padding, d)
    predicted = int(lines[-1].rsplit("= ", 1)[1])
    real = real_size(kind, k, s, padding, d, n)
    mismatches += predicted != real
    label = f"{kind}(k={k}, s={s}, {padding}" + (f", d={d})" if d > 1 else ")")
    for i, line in enumerate(lines):
        print(f"{label if i == 0 else '':<34} {line}")
    print(f"{'':<34} real layer output: {real}  {'✓' if predicted == real else '✗ MISMATCH'}")
claim("table_rows", len(CONFIGS))
claim("table_mismatches", int(mismatches))

# %% [markdown]
# ## N_out against N, each point checked against a real layer
# 'same' with stride 1 is the diagonal N_out = N; 'valid' shifts it down by k_eff − 1; stride 2 halves it
# (rounding up for 'same', down for 'valid').

# %%
sizes = np.arange(6, 41, 6 if args.quick else 1)
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
checked = plot_mismatches = 0
styles = ["-", "-", "--", "-", "-", ":", ":"]  # dotted: dilated 3×3 lands exactly on the 5×5 (and 'same') lines
for (kind, k, s, padding, d), style in zip(CONFIGS[:7], styles):
    formula = [int(axis_size_formula(int(v), k, s, padding, d)[-1].rsplit("= ", 1)[1]) for v in sizes]
    real = [real_size(kind, k, s, padding, d, int(v)) for v in sizes]
    checked += len(sizes)
    plot_mismatches += sum(a != b for a, b in zip(formula, real))
    line, = ax.plot(sizes, formula, style, lw=2.5 if style == ":" else 1.5, label=f"k={k}, s={s}, {padding}" + (f", d={d}" if d > 1 else ""))
    ax.plot(sizes, real, "o", ms=3, color=line.get_color())
ax.set_title("Output size N_out = floor((N + 2p − k_eff)/s) + 1\n(lines: formula, dots: shape of a real Conv2D)")
ax.annotate("a 3×3 window with d=2 spans 5 pixels:\nsame sizes as a 5×5 window", xy=(30, 26), xytext=(22, 2.5),
            arrowprops={"arrowstyle": "->"}, fontsize=8)
ax.set_xlabel("input size N (pixels)")
ax.set_ylabel("output size N_out (pixels)")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
claim("plot_points_checked", int(checked))
claim("plot_mismatches", int(plot_mismatches))

# The 'same' padding split for a 3×3 window, stride 2: the total alternates between odd and even with N.
ns = np.arange(6, 25)
before_after = np.array([same_padding(int(v), 3, 2) for v in ns])
ax2.bar(ns, before_after[:, 0], width=0.6, label="before (top/left)")
ax2.bar(ns, before_after[:, 1], width=0.6, bottom=before_after[:, 0], label="after (bottom/right)")
ax2.set_xticks(ns)
ax2.set_title("Keras 'same' padding for k=3, s=2: even N needs 1 pixel,\nodd N needs 2; an odd total puts the extra pixel after")
ax2.set_xlabel("input size N (pixels)")
ax2.set_ylabel("total padding pixels (stacked)")
ax2.set_yticks([0, 1, 2])
ax2.set_ylim(0, 2.6)
ax2.legend()
save(fig, args, "output_sizes.png")

# %% [markdown]
# ## The same numbers for a whole model
# `model.explain()` prints this formula for every layer of a model (and more: parameters, multiply-adds,
# memory). Here is its first layer for the seed CIFAR-10 CNN.

# %%
lines = []
mc.applications.seed_cnn.cifar10_cnn().explain(print_fn=lines.append)
print("\n".join(lines[2:9]))
finish(args)
