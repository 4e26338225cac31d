"""The CPU Conv2D and Dense kernels (``numba_conv``) and the batch splitter (``threads``).

``numba_conv`` computes the reference's Conv2D in cache-sized chunks of images,
with the batch cut into one part per thread. The tests force both cuts on
small shapes (every size splits, chunks of one image) and compare with
``ops/conv.py``'s ``conv2d_reference_forward/backward`` (and ``ops/dense.py``'s
``dense_reference_*``) over hypothesis-drawn shapes, with and without bias and
fused ReLU.
"""
import contextlib
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

import minicnn as mc
from minicnn.autograd import Tensor
from minicnn.ops import kernels
from minicnn.ops.conv import conv2d_reference_backward, conv2d_reference_forward
from minicnn.ops.dense import dense_reference_backward, dense_reference_forward
from minicnn.ops.kernels import allocator, numba_conv, numba_dense, tapwise_conv, threads
from minicnn.ops.shapes import WindowGeometry
from test_kernels_numba import close, data, geometry, window

SETTINGS = settings(max_examples=30, deadline=None)


@contextlib.contextmanager
def split(parts: int, chunk_bytes: int):
    """Split every job into ``parts`` threads and chunks of ``chunk_bytes``."""
    saved = threads.SMALL, numba_conv.CHUNK_BYTES, os.environ.get("MINICNN_THREADS")
    threads.SMALL, numba_conv.CHUNK_BYTES = 0, chunk_bytes
    os.environ["MINICNN_THREADS"] = str(parts)
    try:
        yield
    finally:
        threads.SMALL, numba_conv.CHUNK_BYTES = saved[:2]
        if saved[2] is None:
            del os.environ["MINICNN_THREADS"]
        else:
            os.environ["MINICNN_THREADS"] = saved[2]


def both_convs(x, w, b, g, relu, grad, needs_dx=True):
    """Forward + backward with the reference and with numba_conv. Backward gets
    the reference's y for both, so ReLU's slope is cut at the same places."""
    needs = (needs_dx, True, b is not None)
    with kernels.use("numpy"):
        y_ref, ref_cols = conv2d_reference_forward(x, w, b, g, relu)
        ref = conv2d_reference_backward(grad, x, w, y_ref, ref_cols, g, relu, needs)
    y, cols = numba_conv.conv2d_forward(x, w, b, g, relu)
    if cols is not None:  # only a narrow im2col matrix (or a wide conv's small one) is kept, and it is the reference's
        assert cols.shape[1] <= numba_conv.KEEP_NARROW_COLS or numba_conv._wide(x, w, g)
        np.testing.assert_array_equal(cols, ref_cols)
    ours = numba_conv.conv2d_backward(grad, x, w, y_ref, cols, g, relu, needs)
    return (y, *ours), (y_ref, *ref)


def assert_matches(ours, ref):
    """Each result has the reference's shape and dtype and equals it to float32
    rounding; a gradient the reference does not compute is not computed."""
    for a, r in zip(ours, ref, strict=True):
        if r is None:
            assert a is None
        else:
            assert a.shape == r.shape and a.dtype == r.dtype
            close(a, r)


@SETTINGS
@given(window, st.integers(1, 5), st.booleans(), st.booleans(), st.integers(1, 3), st.sampled_from([1, 64, 1 << 20]))
def test_conv_matches_the_reference(p, filters, relu, has_bias, parts, chunk_bytes):
    g = geometry(p)
    x = data(p, p["n"], p["h"], p["w"], p["c"])
    w = data(p, p["kh"], p["kw"], p["c"], filters)
    b = data(p, filters) if has_bias else None
    grad = data(p, p["n"], g.out_h, g.out_w, filters)
    with split(parts, chunk_bytes):
        ours, ref = both_convs(x, w, b, g, relu, grad)
    assert_matches(ours, ref)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pointwise_conv_reads_x_in_place_and_matches(padding):
    """A 1x1 stride-1 window needs no im2col: the chunk is a view of x."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4, 3, 6)).astype(np.float32)
    w = rng.standard_normal((1, 1, 6, 7)).astype(np.float32)
    b = rng.standard_normal(7).astype(np.float32)
    g = WindowGeometry.make(4, 3, (1, 1), (1, 1), padding)
    assert g.is_pointwise
    grad = rng.standard_normal((5, 4, 3, 7)).astype(np.float32)
    with split(2, 64):
        ours, ref = both_convs(x, w, b, g, True, grad)
    for a, r in zip(ours, ref):
        close(a, r)


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 30), st.integers(-5, 30), st.booleans(), st.booleans(),
       st.booleans(), st.integers(1, 3), st.integers(0, 2**16))
def test_dense_matches_the_reference(rows, features, extra_units, relu, has_bias, needs_dx, parts, seed):
    """Dense's GEMMs, split over the weights (a weight matrix at least as large
    as the input: units >= rows) or over the rows (fewer units than rows)."""
    rng = np.random.default_rng(seed)
    units = max(1, rows + extra_units)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    w = rng.standard_normal((features, units)).astype(np.float32)
    b = rng.standard_normal(units).astype(np.float32) if has_bias else None
    grad = rng.standard_normal((rows, units)).astype(np.float32)
    needs = (needs_dx, True, has_bias)
    y_ref = dense_reference_forward(x, w, b, relu)
    ref = dense_reference_backward(grad, x, w, y_ref, relu, needs)
    with split(parts, 1 << 20):
        y = numba_dense.dense_forward(x, w, b, relu)
        ours = numba_dense.dense_backward(grad, x, w, y_ref, relu, needs)
    assert_matches((y, *ours), (y_ref, *ref))


def test_wide_im2col_matrices_are_recomputed_not_kept():
    """Above KEEP_NARROW_COLS values per row forward keeps nothing for backward."""
    x = np.ones((2, 6, 6, 4), np.float32)  # 3x3x4 = 36 values per im2col row
    w = np.ones((3, 3, 4, 2), np.float32)
    assert numba_conv.conv2d_forward(x, w, None, WindowGeometry.make(6, 6, (3, 3), (1, 1), "same"), False)[1] is None


def test_results_do_not_depend_on_the_number_of_threads():
    """Per-image outputs are identical for 1 and 3 parts; sums over the batch
    (dw, db) differ only by the order of additions."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 12, 12, 5)).astype(np.float32)
    w = rng.standard_normal((3, 3, 5, 8)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    g = WindowGeometry.make(12, 12, (3, 3), (2, 2), "same")
    grad = rng.standard_normal((7, g.out_h, g.out_w, 8)).astype(np.float32)
    results = []
    for parts in (1, 3):
        with split(parts, 1):
            y, cols = numba_conv.conv2d_forward(x, w, b, g, True)
            results.append((y, *numba_conv.conv2d_backward(grad, x, w, y, cols, g, True, (True, True, True))))
    (y1, gx1, gw1, gb1), (y3, gx3, gw3, gb3) = results
    np.testing.assert_array_equal(y1, y3)
    np.testing.assert_array_equal(gx1, gx3)
    close(gw1, gw3)
    close(gb1, gb3)


@pytest.mark.parametrize("implementation", ["numpy", "numba"])
def test_fused_relu_equals_conv_then_relu(implementation):
    """Conv2D(activation='relu') runs ReLU inside the conv Function; outputs and
    gradients equal Conv2D followed by a separate ReLU layer."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 9, 9, 4)).astype(np.float32)
    fused = mc.layers.Conv2D(6, 3, padding="same", activation="relu")
    plain = mc.layers.Conv2D(6, 3, padding="same")
    relu = mc.layers.Activation("relu")
    fused.build(x.shape), plain.build(x.shape)
    for a, b in zip(plain.weights, fused.weights):
        a.assign(b.numpy())
    results = []
    with kernels.use(implementation):
        for run in (fused, lambda t: relu(plain(t))):
            xt = Tensor(x.copy(), requires_grad=True)
            y = run(xt)
            y.backward(np.ones(y.shape, np.float32))
            layer = fused if run is fused else plain
            results.append([y.data, xt.grad] + [v.grad for v in layer.weights])
    assert type(results[0][0]) is np.ndarray and (results[0][0] == 0).any()  # ReLU did cut
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 1000), st.integers(1, 16))
def test_partition_covers_the_batch_in_near_equal_contiguous_parts(n, parts):
    ranges = threads.partition(n, parts)
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    sizes = [hi - lo for lo, hi in ranges]
    assert len(ranges) == max(1, min(parts, n)) and max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("value", ["0", "-2", "two", ""])
def test_bad_thread_setting_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("MINICNN_THREADS", value)
    with pytest.raises(ValueError, match="MINICNN_THREADS must be a positive integer"):
        threads.threads()


def test_an_error_in_one_part_reaches_the_caller_after_all_parts_end():
    finished = []

    def work(lo, hi):
        if lo == 0:
            raise RuntimeError("part 0 failed")
        finished.append((lo, hi))
        return lo

    with split(3, 1), pytest.raises(RuntimeError, match="part 0 failed"):
        threads.over_batch(work, 9, 9)
    assert sorted(finished) == [(3, 6), (6, 9)]


@pytest.mark.parametrize("path", ["per tap", "over weights", "im2col"])
def test_a_job_of_few_values_but_many_multiply_adds_is_split(monkeypatch, path):
    """The 3x3 convolution of a 4x4-pixel, 256-channel map at batch 32 reads
    and writes 2^17 activations, fewer than ``threads.SMALL``, yet is 150
    million multiply-adds: its GEMMs count (``threads.gemm_size``), so both
    cores get a part. The same for the other two GEMM paths."""
    monkeypatch.setenv("MINICNN_THREADS", "2")
    parts = []
    real = threads.partition
    monkeypatch.setattr(threads, "partition", lambda n, k: parts.append(k) or real(n, k))
    shape, kernel, channels = {"per tap": ((32, 4, 4, 256), 3, 256), "over weights": ((8, 2, 2, 256), 1, 512),
                               "im2col": ((32, 8, 8, 64), 1, 64)}[path]
    x = np.ones(shape, np.float32)
    w = np.ones((kernel, kernel, shape[3], channels), np.float32)
    geom = WindowGeometry.make(shape[1], shape[2], (kernel, kernel), (1, 1), "same")
    assert max(x.size, shape[0] * shape[1] * shape[2] * channels) < threads.SMALL
    assert (path == "per tap") == tapwise_conv.pays(x, w, geom)
    assert (path == "over weights") == numba_conv._wide(x, w, geom) and (path != "over weights" or w.size < threads.SMALL)
    numba_conv.conv2d_forward(x, w, None, geom, False, False)
    assert parts and all(k == 2 for k in parts)


def test_a_cpu_step_keeps_freed_memory_for_the_next(monkeypatch):
    """The first step on the CPU applies ``allocator.keep_freed_memory`` (glibc)."""
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    with kernels.blas_on_one_thread():
        pass
    assert calls == [1]


def blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_blas_runs_on_one_thread_inside_a_step_and_is_restored_after(monkeypatch):
    monkeypatch.setenv("MINICNN_THREADS", "2")
    before = blas_threads()
    assert before, "NumPy's BLAS was not found by threadpoolctl"
    with kernels.use("numba"), kernels.blas_on_one_thread():
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before
    with kernels.use("numpy"), kernels.blas_on_one_thread():  # the reference does not split
        assert blas_threads() == before


@pytest.mark.parametrize("shape, kernel, max_value", [((4, 2, 2, 24), 3, None), ((3, 2, 2, 16), 1, 6.0),
                                                    ((2, 3, 3, 8), 3, 6.0)])
@pytest.mark.parametrize("parts", [1, 2])
def test_wide_convolutions_split_over_weights_match_the_reference(shape, kernel, max_value, parts):
    """Weights larger than the im2col matrix: one im2col and a GEMM split over
    the weights (``numba_gemm``), with bias and a (capped) ReLU."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((kernel, kernel, shape[3], 48)).astype(np.float32)
    b = rng.standard_normal(48).astype(np.float32)
    g = WindowGeometry.make(shape[1], shape[2], (kernel, kernel), (1, 1), "same")
    assert numba_conv._wide(x, w, g)
    needs = (True, True, True)
    with kernels.use("numpy"):
        y_ref, cols = conv2d_reference_forward(x, w, b, g, True, True, max_value)
        grad = rng.standard_normal(y_ref.shape).astype(np.float32)
        ref = conv2d_reference_backward(grad, x, w, y_ref, cols, g, True, needs, max_value)
    with split(parts, 1 << 20):
        y, kept = numba_conv.conv2d_forward(x, w, b, g, True, False, max_value)
        ours = numba_conv.conv2d_backward(grad, x, w, y_ref, kept, g, True, needs, max_value)
    assert kept is None
    assert_matches((y, *ours), (y_ref, *ref))
