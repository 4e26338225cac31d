# %% [markdown]
# # 02 · im2col: a convolution is one matrix multiply
#
# A convolution slides a k×k×C_in filter over the image and takes a dot product at every position.
# Written as loops that is slow in Python. im2col ("image to columns") first copies every window the
# filter visits into one row of a matrix; then *all* the dot products, for all filters, are a single
# matrix multiply `cols @ W` that BLAS runs at full speed. Its adjoint, col2im, adds rows back onto
# the pixels they came from — exactly what the backward pass needs.
#
# This example builds the column matrix of a tiny image by hand, shows that a naive loop convolution
# and im2col + one matmul give the same numbers (and agree with the `Conv2D` layer), checks that
# col2im is the adjoint of im2col, and times loop vs im2col on a real layer size.
#
# Read next: `minicnn/ops/im2col.py` (`im2col`, `col2im`, `im2col_windows`), `minicnn/ops/conv.py`
# (`Conv2DFunction.forward/backward`), `minicnn/ops/shapes.py` (`WindowGeometry`).
#
# Run: `python examples/02_im2col.py [--quick] [--out FOLDER]`

# %%
from _common import claim, finish, plt, save, setup, timed

import numpy as np

from minicnn import layers
from minicnn.ops.im2col import col2im, im2col
from minicnn.ops.shapes import WindowGeometry

args = setup("02_im2col", "im2col by hand, naive loop vs one matmul, col2im as adjoint")

# %% [markdown]
# ## A 4×4 image, a 3×3 window: four windows, four rows
# With 'valid' padding and stride 1 the window fits at 2×2 positions, so the column matrix has
# 4 rows (one per output pixel) and 3·3·1 = 9 columns (one per window cell, in (row, col, channel) order).

# %%
image = np.arange(1, 17, dtype="float64").reshape(1, 4, 4, 1)
geom = WindowGeometry.make(4, 4, (3, 3), (1, 1), "valid")
cols = im2col(image, geom)
print("image (4×4, one channel):\n", image[0, :, :, 0].astype(int))
print(f"\ncolumn matrix {cols.shape}: row r = the window of output pixel r")
print(cols.astype(int))
claim("tiny_cols_shape", list(cols.shape))
claim("tiny_first_row", cols[0].astype(int).tolist())

fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 2.2]})
a0.imshow(image[0, :, :, 0], cmap="Blues")
for (r, c), v in np.ndenumerate(image[0, :, :, 0]):
    a0.text(c, r, int(v), ha="center", va="center")
a0.add_patch(plt.Rectangle((-0.5, -0.5), 3, 3, fill=False, ec="red", lw=2.5))
a0.set_title("4×4 image; red: the window of\noutput pixel (0, 0)")
a0.set_xlabel("column")
a0.set_ylabel("row")
a0.set_xticks(range(4))
a0.set_yticks(range(4))
a1.imshow(cols, cmap="Blues", aspect="auto")
for (r, c), v in np.ndenumerate(cols):
    a1.text(c, r, int(v), ha="center", va="center")
a1.add_patch(plt.Rectangle((-0.5, -0.5), 9, 1, fill=False, ec="red", lw=2.5))
a1.set_title("im2col: one row per output pixel (4 rows × 3·3·1 columns)")
a1.set_xlabel("window cell (i, j) flattened: i·3 + j")
a1.set_ylabel("output pixel (row-major)")
a1.set_yticks(range(4), ["(0,0)", "(0,1)", "(1,0)", "(1,1)"])
save(fig, args, "im2col_tiny.png")

# %% [markdown]
# ## Naive loops vs im2col + one matmul
# The loop visits every output pixel and takes the dot product of its window with each filter.
# The im2col version reshapes the HWIO kernel to (k·k·C_in, C_out) and multiplies once.
# Both use the same `WindowGeometry` (stride, padding split), so any difference is a bug.

# %%
def conv_naive(x, w, geom):
    """Loop over images and output pixels; one window·filter dot product per position."""
    (top, bottom), (left, right) = geom.pads
    xpad = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    kh, kw = geom.kernel
    sh, sw = geom.strides
    out = np.zeros((x.shape[0], geom.out_h, geom.out_w, w.shape[-1]), dtype=x.dtype)
    for n in range(x.shape[0]):
        for i in range(geom.out_h):
            for j in range(geom.out_w):
                window = xpad[n, i * sh:i * sh + kh, j * sw:j * sw + kw, :]  # (kh, kw, C_in)
                out[n, i, j, :] = np.tensordot(window, w, axes=3)            # sum over kh, kw, C_in
    return out


def conv_im2col(x, w, geom):
    cols = im2col(x, geom)                                     # (N·oh·ow, kh·kw·C_in)
    y = cols @ w.reshape(-1, w.shape[-1])                      # ONE matrix multiply
    return y.reshape(x.shape[0], geom.out_h, geom.out_w, w.shape[-1])


rng = np.random.default_rng(0)
x = rng.standard_normal((2, 7, 7, 3))
w = rng.standard_normal((3, 3, 3, 4))
worst = 0.0
for strides, padding in [((1, 1), "valid"), ((1, 1), "same"), ((2, 2), "same"), ((2, 2), "valid")]:
    g = WindowGeometry.make(7, 7, (3, 3), strides, padding)
    diff = np.abs(conv_naive(x, w, g) - conv_im2col(x, w, g)).max()
    worst = max(worst, diff)
    print(f"stride {strides}, {padding:<5}: output {g.out_h}×{g.out_w}, max |naive − im2col| = {diff:.2e}")
claim("naive_vs_im2col_max_abs_diff", float(worst))

conv = layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False, dtype="float64")
conv.build(x.shape)
conv.set_weights([w])
layer_out = conv(x).numpy()
diff_layer = float(np.abs(layer_out - conv_naive(x, w, WindowGeometry.make(7, 7, (3, 3), (2, 2), "same"))).max())
print(f"Conv2D layer vs naive loop: max difference {diff_layer:.2e}")
claim("layer_vs_naive_max_abs_diff", diff_layer)

# %% [markdown]
# ## col2im is the adjoint of im2col
# For any image x and any column matrix y: ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩. That identity is why the
# input gradient of a convolution is `col2im(dL/dcols)`. col2im of a matrix of ones counts, for every
# pixel, how many windows contain it: the overlap that makes gradients add up.

# %%
g = WindowGeometry.make(7, 7, (3, 3), (1, 1), "same")
y = rng.standard_normal((2 * g.out_h * g.out_w, 9 * 3))
lhs = float(np.sum(im2col(x, g) * y))
rhs = float(np.sum(x * col2im(y, x.shape, g)))
print(f"<im2col(x), y> = {lhs:.10f}\n<x, col2im(y)> = {rhs:.10f}")
claim("adjoint_rel_error", abs(lhs - rhs) / abs(lhs))

counts = {}
for strides, padding in [((1, 1), "same"), ((1, 1), "valid"), ((2, 2), "same")]:
    gg = WindowGeometry.make(7, 7, (3, 3), strides, padding)
    ones = np.ones((gg.out_h * gg.out_w, 9))
    counts[(strides, padding)] = col2im(ones, (1, 7, 7, 1), gg)[0, :, :, 0]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.8), layout="constrained")
for ax, ((strides, padding), c) in zip(axes, counts.items()):
    im = ax.imshow(c, cmap="viridis", vmin=0, vmax=9)
    for (r, cc), v in np.ndenumerate(c):
        ax.text(cc, r, int(v), ha="center", va="center", color="white" if v < 5 else "black")
    ax.set_title(f"3×3, stride {strides[0]}, {padding}")
    ax.set_xlabel("column")
    ax.set_ylabel("row")
fig.suptitle("col2im(ones): in how many windows each pixel of a 7×7 image appears")
fig.colorbar(im, ax=axes, shrink=0.8, label="windows")
save(fig, args, "col2im_overlap.png")

# %% [markdown]
# ## Timing: Python loops vs im2col on a real layer size
# The second conv of the seed CIFAR-10 CNN: 16×16×32 in, 64 filters of 3×3. Same numbers, very different time.

# %%
batch = 4 if args.quick else 32
x = rng.standard_normal((batch, 16, 16, 32)).astype("float32")
w = rng.standard_normal((3, 3, 32, 64)).astype("float32")
g = WindowGeometry.make(16, 16, (3, 3), (1, 1), "same")
same = float(np.abs(conv_naive(x, w, g) - conv_im2col(x, w, g)).max())
t_loop = timed(lambda: conv_naive(x, w, g), repeat=3)
t_cols = timed(lambda: conv_im2col(x, w, g), repeat=10)  # best of 10: least disturbed by other work
t_im2col_only = timed(lambda: im2col(x, g), repeat=5)
print(f"batch {batch}: loop {t_loop * 1e3:.1f} ms, im2col+matmul {t_cols * 1e3:.1f} ms "
      f"(of which im2col {t_im2col_only * 1e3:.1f} ms) → {t_loop / t_cols:.0f}× faster; max diff {same:.1e}")
claim("real_size_max_abs_diff", same)
claim("loop_ms", round(t_loop * 1e3, 2))
claim("im2col_ms", round(t_cols * 1e3, 2))
claim("speedup", round(t_loop / t_cols, 1))

fig, ax = plt.subplots(figsize=(8, 3.8))
labels = ["im2col + one matmul\n(total)", "im2col copy alone", "Python loop over output\npixels (a dot each)"]
vals = [t_cols * 1e3, t_im2col_only * 1e3, t_loop * 1e3]
bars = ax.barh(labels, vals, color=["tab:green", "tab:gray", "tab:red"])
ax.bar_label(bars, [f"{v:.1f} ms" for v in vals], padding=3)
ax.set_xscale("log")
ax.set_xlabel("wall time for one forward pass (ms, log scale)")
ax.set_title(f"One forward pass of a conv, 16×16×32 in, 64 filters 3×3, batch {batch}:\n"
             f"im2col + matmul is {t_loop / t_cols:.0f}× faster than the loop (same numbers)")
ax.set_xlim(right=max(vals) * 6)
save(fig, args, "loop_vs_im2col_time.png")
finish(args)
