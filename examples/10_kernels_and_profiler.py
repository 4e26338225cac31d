# %% [markdown]
# # 10 · Kernels: NumPy vs Numba (vs CuPy), and where a training step spends its time
#
# A convolution is im2col + one GEMM forward, and two GEMMs + col2im backward (example 02). The GEMMs run
# on BLAS and are already fast; im2col and col2im are many small strided copies and scatter-adds, which
# NumPy does slowly. Each Function in `minicnn/ops` holds the readable reference code, and asks
# `fast_kernel(name, x)` whether a compiled override exists: the Numba loops by default on the CPU, CUDA
# kernels on a GPU, none with `MINICNN_KERNELS=numpy`. The whole Conv2D forward and backward have an
# override too: on the CPU each core takes its own images of the batch and works through them a few at a
# time, so the im2col buffer stays in its cache.
#
# This example times one convolution's forward and backward with each implementation, split into the
# copy part and the GEMM part, checks that they compute the same numbers, and then turns on the op
# profiler (`MINICNN_PROFILE=1` or `profiler.enable()`) for a few training steps of the seed CNN to show
# where the time goes. Rule of speed work: measure first, then optimise the biggest bar.
#
# Read next: `minicnn/ops/conv.py` (the reference maths) and `minicnn/ops/im2col.py`,
# `minicnn/ops/kernels/__init__.py` (`FAST_PATHS`, `fast_kernel`: which override runs where),
# `minicnn/ops/kernels/numba_cpu.py`, `minicnn/ops/kernels/numba_conv.py` (chunks) and `threads.py` (the
# batch split), `minicnn/ops/conv_pool.py` (Conv2D + ReLU + MaxPool in one pass),
# `minicnn/profiler.py` (`enable`, `results`, `report`), and `benchmarks/kernels.py` for the per-layer table.
#
# Run: `python examples/10_kernels_and_profiler.py [--quick] [--out FOLDER]`

# %%
import time

from _common import claim, finish, plt, save, setup, timed

import numpy as np

import minicnn as mc
from minicnn import Tensor, profiler
from minicnn.ops.conv import conv2d
from minicnn.ops import kernels
from minicnn.ops.im2col import col2im, im2col
from minicnn.ops.shapes import WindowGeometry

args = setup("10_kernels_and_profiler", "NumPy vs Numba kernels for one convolution; the op profiler")




# %% [markdown]
# ## One convolution, forward and backward
# The seed CNN's second conv: 16×16×32 in, 64 filters of 3×3, 'same'. Forward = im2col + GEMM; backward =
# two GEMMs (dL/dW and dL/dcols) + col2im. We time the whole pass and the copy kernel alone; the rest is GEMM.

# %%
batch = 16 if args.quick else 128
repeat = 3 if args.quick else 10
rng = np.random.default_rng(0)
x = rng.standard_normal((batch, 16, 16, 32), dtype=np.float32)
w = rng.standard_normal((3, 3, 32, 64), dtype=np.float32) * 0.1
g = rng.standard_normal((batch, 16, 16, 64), dtype=np.float32)
geom = WindowGeometry.make(16, 16, (3, 3), (1, 1), "same")


def forward_backward():
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    y = conv2d(xt, wt, padding="same")
    y.backward(g)
    return y.data, xt.grad, wt.grad


results, timings = {}, {}
for impl in ["numpy", "numba"]:
    with kernels.use(impl):  # MINICNN_KERNELS=impl for this block
        results[impl] = forward_backward()  # also compiles the Numba kernels on their first use
        cols = im2col(x, geom)
        dcols = g.reshape(-1, 64) @ w.reshape(-1, 64).T

        def forward():
            return conv2d(Tensor(x), Tensor(w), padding="same")

        t_forward = timed(forward, repeat)
        t_both = timed(forward_backward, repeat)
        timings[impl] = {
            "forward: im2col": timed(lambda: im2col(x, geom), repeat),
            "forward: total": t_forward,
            "backward: col2im": timed(lambda: col2im(dcols, x.shape, geom), repeat),
            "backward: total": max(t_both - t_forward, 0.0),
        }
    t = timings[impl]
    print(f"{impl:>6}: forward {1e3 * t['forward: total']:.2f} ms (im2col {1e3 * t['forward: im2col']:.2f}), "
          f"backward {1e3 * t['backward: total']:.2f} ms (col2im {1e3 * t['backward: col2im']:.2f})")

agree = max(float(np.abs(a - b).max() / (np.abs(a).max() + 1e-12))
            for a, b in zip(results["numpy"], results["numba"]))
print(f"NumPy and Numba results agree to a relative {agree:.1e} (float32 rounding)")
claim("numba_vs_numpy_rel_diff", agree)
claim("conv_timings_ms", {impl: {k: round(1e3 * v, 3) for k, v in t.items()} for impl, t in timings.items()})

if mc.backend.gpu_available():  # CuPy: the same conv on the GPU (cuBLAS GEMMs, CuPy kernels)
    import cupy as cp  # noqa: PLC0415 - only where a GPU is present

    xg, wg, gg = cp.asarray(x), cp.asarray(w), cp.asarray(g)

    def gpu_pass():
        xt, wt = Tensor(xg, requires_grad=True), Tensor(wg, requires_grad=True)
        conv2d(xt, wt, padding="same").backward(gg)
        cp.cuda.Device().synchronize()

    gpu_pass()
    gpu_forward = timed(lambda: (conv2d(Tensor(xg), Tensor(wg), padding="same"),
                                 cp.cuda.Device().synchronize()), repeat)
    gpu_total = timed(gpu_pass, repeat)
    timings["cupy"] = {"forward: im2col": 0.0, "forward: total": gpu_forward, "backward: col2im": 0.0,
                       "backward: total": max(gpu_total - gpu_forward, 0.0)}
    claim("cupy_forward_ms", round(1e3 * gpu_forward, 3))
else:
    print("no GPU with CuPy here: the CuPy column is left out")

fig, ax = plt.subplots(figsize=(10, 4.4))
impls = list(timings)
pos = np.arange(len(impls))
for offset, phase, copy_name in [(-0.2, "forward", "im2col"), (0.2, "backward", "col2im")]:
    copy = np.array([1e3 * timings[i][f"{phase}: {copy_name}"] for i in impls])
    total = np.array([1e3 * timings[i][f"{phase}: total"] for i in impls])
    gemm = np.maximum(total - copy, 0)
    ax.bar(pos + offset, copy, width=0.38, color="tab:orange" if phase == "forward" else "tab:red",
           label=f"{phase}: {copy_name} (copy kernel)")
    ax.bar(pos + offset, gemm, width=0.38, bottom=copy, color="tab:blue" if phase == "forward" else "tab:cyan",
           label=f"{phase}: GEMMs and the rest")
    for p, tot in zip(pos + offset, total):
        ax.text(p, tot, f"{tot:.1f}", ha="center", va="bottom", fontsize=8)
ax.set_xticks(pos, [f"{i}\n(left: forward, right: backward)" for i in impls])
ax.set_ylabel("milliseconds (best of several runs)")
ax.set_title(f"One Conv2D 16×16×32 → 64 (3×3, same), batch {batch}: where the time goes")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
save(fig, args, "conv_kernels.png")

# %% [markdown]
# ## The op profiler on real training steps
# `profiler.enable()` times every Function's forward and backward, grouped by class. A few training steps
# of the seed CNN with each kernel set; the table is what `MINICNN_PROFILE=1 minicnn train` prints at exit.

# %%
steps, step_batch = (2, 16) if args.quick else (5, 128)
images = rng.random((step_batch, 32, 32, 3), dtype=np.float32)
labels = rng.integers(0, 10, size=step_batch)
profiles = {}
for impl in ["numpy", "numba"]:
    with kernels.use(impl):
        mc.utils.set_random_seed(0)
        model = mc.applications.seed_cnn.cifar10_cnn()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.train_on_batch(images, labels)  # warm-up (and Numba compilation) outside the profile
        profiler.reset()
        profiler.enable()
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(images, labels)
        wall = (time.perf_counter() - start) / steps
        profiler.disable()
        print(f"--- {impl} kernels, batch {step_batch}: {1e3 * wall:.1f} ms per training step (wall)")
        print(profiler.report())
        profiles[impl] = (profiler.results(), wall)
claim("profiled_ops", sorted(profiles["numpy"][0]))
claim("profile_step_ms", {impl: round(1e3 * wall, 2) for impl, (_, wall) in profiles.items()})
claim("profiled_share_of_wall", {impl: round(sum(r["ms_per_step"] for r in res.values()) / (1e3 * wall), 3)
                                 for impl, (res, wall) in profiles.items()})

fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharex=True)
top = sorted(profiles["numpy"][0], key=lambda k: -profiles["numpy"][0][k]["ms_per_step"])[:10]
for ax, (impl, (res, wall)) in zip(axes, profiles.items()):
    ms = [res.get(k, {"ms_per_step": 0.0})["ms_per_step"] for k in top]
    ax.barh(top, ms, color=["tab:orange" if "Conv" in k else "tab:blue" for k in top])
    ax.invert_yaxis()
    ax.set_xlabel("ms per training step")
    ax.set_title(f"{impl} kernels: {1e3 * wall:.0f} ms per step")
axes[0].set_ylabel("op (Function.phase), slowest first with NumPy")
fig.suptitle(f"The op profiler: time per Function class in training steps of the seed CNN (batch {step_batch})",
             fontsize=11)
save(fig, args, "profile_per_op.png")
finish(args)
