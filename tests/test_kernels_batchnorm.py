"""The Numba BatchNormalization (``numba_batchnorm``) computes what ``ops/batchnorm.py``'s reference computes.

Hypothesis draws channels-last shapes (2-D and 4-D, odd sizes), batch or fixed
statistics, scale/center on or off (constant gamma/beta), float32 and float64,
and 1-3 threads; forward output, batch statistics and all three gradients must
agree with the reference to its own rounding (the kernel sums in float64).
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn.autograd import Tensor
from minicnn.ops import kernels
from minicnn.ops.batchnorm import BatchNormFunction
from test_kernels_conv import split

case = st.fixed_dictionaries({
    "shape": st.sampled_from([(5, 3), (1, 4), (2, 3, 5, 4), (3, 1, 7, 2), (4, 6, 6, 16)]),
    "batch_stats": st.booleans(), "constant_gamma": st.booleans(),
    "dtype": st.sampled_from([np.float32, np.float64]), "parts": st.integers(1, 3), "seed": st.integers(0, 2**16),
})


def run(p, implementation):
    rng = np.random.default_rng(p["seed"])
    shape, dtype = p["shape"], p["dtype"]
    c = shape[-1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    gamma = (np.ones((1,) * (len(shape) - 1) + (c,)) if p["constant_gamma"] else rng.random(c) + 0.5).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    stats = None if p["batch_stats"] else ((rng.standard_normal(c) * 0.1).astype(dtype).reshape((1,) * (len(shape) - 1) + (c,)),
                                          (rng.random(c) + 0.3).astype(dtype).reshape((1,) * (len(shape) - 1) + (c,)))
    g = rng.standard_normal(shape).astype(dtype)
    tensors = [Tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    fn = BatchNormFunction(tuple(range(len(shape) - 1)), 1e-3, stats)
    with kernels.use(implementation), split(p["parts"], 1 << 20):
        y = fn(*tensors)
        stats = [fn.batch_mean, fn.batch_var] if p["batch_stats"] else []  # backward releases the Function
        y.backward(g)
    return [y.data] + [t.grad for t in tensors] + stats


@settings(max_examples=40, deadline=None)
@given(case)
def test_batchnorm_kernel_matches_the_reference(p):
    ours, ref = run(p, "numba"), run(p, "numpy")
    eps = 2e-5 if p["dtype"] == np.float32 else 1e-12
    for a, r in zip(ours, ref, strict=True):
        assert a.shape == r.shape and a.dtype == r.dtype
        np.testing.assert_allclose(a, r, rtol=eps, atol=eps * (1 + np.abs(r).max()))
