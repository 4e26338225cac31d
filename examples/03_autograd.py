# %% [markdown]
# # 03 · Autograd: gradients by hand, by `backward()`, and by finite differences
#
# Every operation on a `Tensor` runs a `Function` whose `forward` computes the value and remembers what
# `backward` will need. The links from outputs back to the Functions that made them are the whole
# "tape"; `loss.backward()` walks it from the loss down, applying the chain rule once per Function.
#
# This example works out the gradients of two small graphs on paper and compares them with
# `backward()`, checks a Conv2D's gradients against central finite differences in float64, and opens
# the tape of a real CNN after a forward pass to see what each Function keeps (and how much memory).
#
# Read next: `minicnn/autograd/tensor.py` (`Function.__call__`, `release`, `Tensor`, `MatMul`,
# `unbroadcast`), `minicnn/autograd/backprop.py` (the backward walk), `minicnn/autograd/math_ops.py`,
# `minicnn/ops/conv.py` (`Conv2DFunction.backward`).
#
# Run: `python examples/03_autograd.py [--quick] [--out FOLDER]`

# %%
from _common import claim, finish, plt, save, setup

import numpy as np

import minicnn as mc
from minicnn import Tensor, layers
from minicnn.models.explain import explain_model

args = setup("03_autograd", "Hand-worked gradients, a float64 gradient check, what the tape holds")

# %% [markdown]
# ## 1. A scalar graph on paper
# z = x·y + x², L = z². Chain rule: dL/dx = 2z·(y + 2x), dL/dy = 2z·x. At x = 2, y = 3: z = 10,
# dL/dx = 20·7 = 140, dL/dy = 20·2 = 40.

# %%
x = Tensor(np.array(2.0), requires_grad=True)
y = Tensor(np.array(3.0), requires_grad=True)
z = x * y + x ** 2
loss = z * z
loss.backward()
print(f"z = {float(z.data)}, L = {float(loss.data)}")
print(f"dL/dx: backward() {float(x.grad)}, by hand 2·10·(3 + 2·2) = 140")
print(f"dL/dy: backward() {float(y.grad)}, by hand 2·10·2 = 40")
claim("scalar_grads_match", bool(float(x.grad) == 140.0 and float(y.grad) == 40.0))

# %% [markdown]
# ## 2. A tiny dense layer on paper
# L = Σ relu(X·W + b). With the mask M = [X·W + b > 0] (1 where the ReLU lets the value through):
# dL/dW = Xᵀ·M, dL/db = column sums of M, dL/dX = M·Wᵀ. Note b is added to every row (broadcast),
# so its gradient sums over the rows — that is `unbroadcast` in autograd/tensor.py.

# %%
rng = np.random.default_rng(0)
X = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
W = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
b = Tensor(rng.standard_normal(2), requires_grad=True)
L = mc.activations.relu(X @ W + b).sum()
L.backward()
M = ((X.data @ W.data + b.data) > 0).astype(float)
by_hand = {"W": X.data.T @ M, "b": M.sum(axis=0), "X": M @ W.data.T}
errors = {name: float(np.abs(by_hand[name] - t.grad).max()) for name, t in [("W", W), ("b", b), ("X", X)]}
for name, err in errors.items():
    print(f"dL/d{name}: max |backward − by hand| = {err:.1e}")
claim("dense_max_abs_diff", max(errors.values()))

# %% [markdown]
# ## 3. Gradient check of a Conv2D in float64
# For a random upstream gradient R, L = Σ conv(x)·R. Nudge each input, kernel and bias value by ±ε and
# measure (L(+ε) − L(−ε)) / 2ε: the slope the analytic gradient must match. float64 makes the
# comparison sharp (relative errors near 1e-10; float32 would only reach about 1e-3).

# %%
mc.backend.set_floatx("float64")
conv = layers.Conv2D(3, 3, strides=2, padding="same")
xv = rng.standard_normal((2, 5, 5, 2))
xt = Tensor(xv.copy(), requires_grad=True)
R = rng.standard_normal(conv.compute_output_shape((2, 5, 5, 2)))
(conv(xt) * R).sum().backward()
analytic = {"input x": xt.grad, "kernel": conv.kernel.grad, "bias": conv.bias.grad}


def loss_of(x_data):
    with mc.no_grad():
        return float((conv(x_data).data * R).sum())


def numeric_grad(array, f, eps=1e-6):
    """Central differences, one element at a time (array is changed and restored in place)."""
    g = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + eps
        plus = f()
        array[idx] = old - eps
        minus = f()
        array[idx] = old
        g[idx] = (plus - minus) / (2 * eps)
    return g


numeric = {
    "input x": numeric_grad(xv, lambda: loss_of(xv)),
    "kernel": numeric_grad(conv.kernel.data, lambda: loss_of(xv)),
    "bias": numeric_grad(conv.bias.data, lambda: loss_of(xv)),
}
mc.backend.set_floatx("float32")
rel = {}
for name in analytic:
    a, n = analytic[name], numeric[name]
    rel[name] = float(np.linalg.norm(a - n) / (np.linalg.norm(a) + np.linalg.norm(n)))
    print(f"{name:<8} {a.size:>3} values: relative error ‖a − n‖/(‖a‖ + ‖n‖) = {rel[name]:.2e}")
claim("gradcheck_max_rel_error", max(rel.values()))
claim("gradcheck_passed", bool(max(rel.values()) < 1e-7))

fig, ax = plt.subplots(figsize=(5.5, 5))
for name, marker in zip(analytic, "o^s"):
    ax.scatter(numeric[name].ravel(), analytic[name].ravel(), s=18, marker=marker,
               label=f"{name} (rel. error {rel[name]:.0e})")
lim = max(np.abs(v).max() for v in numeric.values()) * 1.1
ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8, label="analytic = numeric")
ax.set_xlabel("numeric gradient (central differences, ε = 1e-6)")
ax.set_ylabel("analytic gradient (backward())")
ax.set_title("Gradient check of Conv2D(3, 3×3, stride 2, 'same'), float64")
ax.legend(fontsize=8)
save(fig, args, "gradient_check.png")

# %% [markdown]
# ## 4. What the tape holds after a forward pass
# Run the seed CIFAR-10 CNN forward (with gradients on) and walk back from the loss: every Function
# still alive, its generation (its depth in the graph) and the arrays it saved for backward. This runs on
# the readable reference kernels (`MINICNN_KERNELS=numpy`), where the im2col matrices of the convolutions
# dominate: exactly the "im2col columns" `model.explain()` counts. (The default Numba kernels keep only narrow
# ones, such as the first layer's 27 columns; `minicnn/ops/kernels/numba_conv.py` rebuilds the others in
# small pieces during backward.)
# After `backward()` every Function is released, and the memory with it.

# %%
model = mc.applications.seed_cnn.cifar10_cnn()
batch = 4 if args.quick else 32
images = rng.random((batch, 32, 32, 3), dtype=np.float32)
labels = rng.integers(0, 10, size=batch)
with mc.ops.kernels.use("numpy"):
    loss = mc.losses.SparseCategoricalCrossentropy()(labels, model(images, training=True))


def tape(output):
    """All Functions reachable from ``output``, highest generation (nearest the loss) first."""
    seen, stack, found = set(), [output.creator], []
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        found.append(fn)
        stack.extend(t.creator for t in fn.inputs)
    return sorted(found, key=lambda f: -f.generation)




def saved_arrays(fn):
    """The arrays a Function keeps for its backward pass. Weights and inputs it refers to, or views of
    them, are not counted: they exist anyway (the model's own arrays, the previous layer's output)."""
    held = [w.data for w in model.weights] + [t.data for t in fn.inputs]
    return {k: v for k, v in vars(fn).items()
            if isinstance(v, np.ndarray) and not any(np.shares_memory(v, h) for h in held)}


functions = tape(loss)
rows = []
print(f"{'gen':>3}  {'Function':<28} {'output shape':<18} saved for backward (besides weights)")
for fn in functions:
    out = fn.outputs[0]()
    saved = saved_arrays(fn)
    nbytes = sum(v.nbytes for v in saved.values())
    rows.append((f"{fn.generation}: {type(fn).__name__}", nbytes))
    desc = ", ".join(f"{k} {tuple(v.shape)}" for k, v in saved.items()) or "-"
    print(f"{fn.generation:>3}  {type(fn).__name__:<28} {str(tuple(out.shape)) if out is not None else '?':<18} {desc}")
total_saved = sum(n for _, n in rows)
cols_bytes = sum(saved_arrays(fn)["cols"].nbytes for fn in functions if "cols" in saved_arrays(fn))
expected = explain_model(model).im2col_bytes * batch
print(f"{len(functions)} Functions on the tape; they hold {total_saved / 2**20:.2f} MiB of saved arrays; "
      f"the conv im2col matrices alone {cols_bytes / 2**20:.2f} MiB (explain() predicts {expected / 2**20:.2f} MiB)")
claim("tape_functions", len(functions))
claim("tape_saved_bytes", int(total_saved))
claim("im2col_bytes_match_explain", bool(cols_bytes == expected))

fig, ax = plt.subplots(figsize=(8, 5))
names, sizes = zip(*rows)
ax.barh(names, np.array(sizes) / 2**10, color=["tab:orange" if "Conv2D" in n else "tab:blue" for n in names])
ax.invert_yaxis()
ax.set_xlabel("KiB saved for backward")
ax.set_ylabel("generation: Function (loss at the top)")
ax.set_title(f"The tape of the seed CNN after a forward pass, batch {batch}\n(orange: convolutions keep their "
             "im2col matrix)")
save(fig, args, "tape_memory.png")

creators_before = len(functions)
loss.backward()
claim("tape_released_after_backward", bool(loss.creator is None and all(fn.inputs == () for fn in functions)))
print(f"after backward(): loss.creator = {loss.creator}; all {creators_before} Functions released")
finish(args)
