"""Conv2D(relu) + MaxPooling2D as one Function (``ops/conv_pool.py``).

The fused Function must give what the two layers give one after the other:
outputs and every gradient, with both kernel implementations, in float32 and
float64, for the 2x2 fast path and for other pooling windows (which fall back
to the composition), over odd sizes, 'valid' and 'same' padding, strides and
dilated kernels. Its backward is also checked against central differences in
float64, on its own (not only against the unfused layers).
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn.autograd import Tensor
from minicnn.ops import kernels
from minicnn.ops.conv import Conv2DFunction, conv2d
from minicnn.ops.conv_pool import Conv2DReLUMaxPoolFunction, conv2d_relu_max_pool2d
from minicnn.ops.kernels import numba_conv, tapwise_conv
from minicnn.ops.pool import max_pool2d
from minicnn.ops.shapes import WindowGeometry
from test_gradcheck import check_gradients
from test_kernels_conv import split

POOLS = [((2, 2), (2, 2), "valid"), ((3, 3), (2, 2), "same"), ((2, 2), (1, 1), "valid"), ((3, 2), (1, 2), "valid")]


@st.composite
def conv_strides_dilation(draw):
    """Strides or a dilation (a dilated kernel with strides > 1 is refused, in Keras too)."""
    if draw(st.booleans()):
        return (draw(st.integers(1, 2)), draw(st.integers(1, 2))), (1, 1)
    return (1, 1), (draw(st.integers(1, 3)), draw(st.integers(1, 3)))


case = st.fixed_dictionaries({
    "n": st.integers(1, 3), "h": st.integers(2, 11), "w": st.integers(2, 11), "c": st.integers(1, 4),
    "filters": st.integers(1, 5), "kernel": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "strides_dilation": conv_strides_dilation(), "padding": st.sampled_from(["valid", "same"]),
    "bias": st.booleans(), "pool": st.sampled_from(POOLS), "dtype": st.sampled_from([np.float32, np.float64]),
    "seed": st.integers(0, 2**16), "implementation": st.sampled_from(["numpy", "numba"]),
    "parts": st.integers(1, 3), "chunk_bytes": st.sampled_from([1, 1 << 20]),
})
# fused and unfused sum the same products, possibly in another order
RTOL = {np.float32: 2e-6, np.float64: 1e-13}


def run(op, arrays, seed):
    """Forward + backward; the output and the gradients of every input."""
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    y = op(*tensors)
    y.backward(np.random.default_rng(seed).standard_normal(y.shape).astype(arrays[0].dtype))
    return [y.data] + [t.grad for t in tensors]


@settings(max_examples=60, deadline=None)
@given(case)
def test_fused_equals_conv_relu_then_max_pool(p):
    rng = np.random.default_rng(p["seed"])
    dtype, (strides, dilation), size_and_pool = p["dtype"], p["strides_dilation"], p["pool"]
    x = rng.standard_normal((p["n"], p["h"], p["w"], p["c"])).astype(dtype)
    w = rng.standard_normal((*p["kernel"], p["c"], p["filters"])).astype(dtype)
    arrays = [x, w] + ([rng.standard_normal(p["filters"]).astype(dtype)] if p["bias"] else [])
    size, pool_strides, pool_padding = size_and_pool
    try:
        geom = WindowGeometry.make(p["h"], p["w"], p["kernel"], strides, p["padding"], dilation)
        WindowGeometry.make(geom.out_h, geom.out_w, size, pool_strides, pool_padding)
    except ValueError:
        assume(False)  # a window that does not fit: the layers themselves refuse it

    def fused(x, w, b=None):
        return conv2d_relu_max_pool2d(x, w, b, strides, p["padding"], dilation, size, pool_strides, pool_padding)

    def separate(x, w, b=None):
        return max_pool2d(conv2d(x, w, b, strides, p["padding"], dilation, relu=True), size, pool_strides,
                          pool_padding)

    with kernels.use(p["implementation"]), split(p["parts"], p["chunk_bytes"]):  # forced threads and chunks
        ours, ref = run(fused, arrays, p["seed"]), run(separate, arrays, p["seed"])
    for a, b in zip(ours, ref):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=RTOL[dtype] * (1 + np.abs(b).max()))


@pytest.mark.parametrize("implementation", ["numpy", "numba"])
@pytest.mark.parametrize("kernel, strides, padding, dilation, pool", [
    ((3, 3), (1, 1), "same", (1, 1), POOLS[0]),    # the seed CNN's block: the 2x2 fast path
    ((3, 2), (1, 1), "valid", (2, 1), POOLS[0]),   # dilated kernel, odd output, fast path
    ((2, 3), (2, 1), "same", (1, 1), POOLS[1]),    # strided conv, overlapping padded pool
    ((3, 3), (1, 1), "valid", (2, 2), POOLS[3]),   # dilated, non-square pool
])
def test_fused_gradients_match_central_differences(implementation, kernel, strides, padding, dilation, pool):
    """float64: backward agrees with central differences (tests/test_gradcheck.py's
    check) for x, the kernel and the bias. The inputs are drawn from a fixed seed,
    so no window holds a tie and no pooled value sits at ReLU's kink; the bias is shifted down
    so that some windows are cut to 0 whole."""
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((2, 9, 8, 2)), rng.standard_normal((*kernel, 2, 3)), rng.standard_normal(3) - 3

    def fused(x, w, b):
        return conv2d_relu_max_pool2d(x, w, b, strides, padding, dilation, *pool)

    with kernels.use(implementation):
        out = fused(Tensor(x), Tensor(w), Tensor(b)).data
        assert out.dtype == np.float64 and (out > 0).any() and (out == 0).any()  # both ReLU sides are seen
        check_gradients(fused, x, w, b)


@pytest.mark.parametrize("implementation", ["numpy", "numba"])
def test_all_negative_windows_pass_no_gradient(implementation):
    """Where ReLU cuts a whole window, the pooled value is 0 and no gradient
    reaches the conv, exactly as with ReLU then pooling (ties at 0)."""
    x = -np.ones((2, 6, 6, 1), np.float32)
    w = np.ones((3, 3, 1, 2), np.float32)
    with kernels.use(implementation):
        out, gx, gw = run(lambda x, w: conv2d_relu_max_pool2d(x, w, None, (1, 1), "same", (1, 1), (2, 2), (2, 2),
                                                              "valid"), [x, w], 0)
    assert (out == 0).all() and (gx == 0).all() and (gw == 0).all()


def seed_block(activation="relu", pool=mc.layers.MaxPooling2D):
    return mc.Sequential([mc.Input((12, 12, 3)), mc.layers.Conv2D(4, 3, padding="same", activation=activation),
                          pool(2), mc.layers.Flatten(), mc.layers.Dense(3)])


def test_sequential_fuses_and_gives_the_unfused_result(monkeypatch):
    model = seed_block()
    x = np.random.default_rng(0).standard_normal((5, 12, 12, 3)).astype(np.float32)
    results = []
    for fuse in (True, False):
        if not fuse:
            monkeypatch.setattr(mc.layers.Conv2D, "fuses_with", lambda self, nxt: False)
        xt = Tensor(x, requires_grad=True)
        y = model(xt, training=True)
        assert isinstance(y.creator.inputs[0].creator.inputs[0].creator, Conv2DReLUMaxPoolFunction) is fuse
        y.sum().backward()
        results.append([y.data, xt.grad] + [v.grad.copy() for v in model.trainable_weights])
        for v in model.trainable_weights:
            v.grad = None
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_only_conv_relu_then_max_pooling_fuses():
    conv = seed_block().layers[0]
    assert conv.fuses_with(seed_block().layers[1])
    assert not seed_block(activation="tanh").layers[0].fuses_with(seed_block().layers[1])
    assert not conv.fuses_with(seed_block(pool=mc.layers.AveragePooling2D).layers[1])
    fresh = mc.layers.Conv2D(4, 3, activation="relu")  # not built yet: the first call runs unfused
    assert not fresh.fuses_with(mc.layers.MaxPooling2D(2))


def test_a_model_without_input_fuses_from_its_second_call_and_keeps_its_shapes():
    model = mc.Sequential([mc.layers.Conv2D(2, 3, activation="relu"), mc.layers.MaxPooling2D(2)])
    x = np.ones((1, 8, 8, 1), np.float32)
    first = model(x).numpy()
    assert model.layers[0].fuses_with(model.layers[1])
    np.testing.assert_array_equal(model(x).numpy(), first)
    assert model.layers[0].output_shape == (None, 6, 6, 2) and model.layers[1].output_shape == (None, 3, 3, 2)


@pytest.mark.parametrize("implementation", ["numpy", "numba"])
@pytest.mark.parametrize("fused", [True, False])
def test_im2col_matrix_is_kept_only_for_a_weight_gradient(implementation, fused):
    """A first layer over RGB keeps its im2col matrix for the weight gradient,
    but not in inference nor when its weights are frozen; the gradients that
    are asked for are the same either way."""
    rng = np.random.default_rng(4)
    x = Tensor(rng.standard_normal((2, 8, 8, 3)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 3, 3, 4)).astype(np.float32), requires_grad=True)
    b = Tensor(np.zeros(4, np.float32), requires_grad=True)

    geom = WindowGeometry.make(8, 8, (3, 3), (1, 1), "same")

    def run(*inputs):
        fn = (Conv2DReLUMaxPoolFunction(geom, WindowGeometry.make(8, 8, (2, 2), (2, 2), "valid")) if fused
              else Conv2DFunction(geom, relu=True))
        return fn(*inputs), fn

    with kernels.use(implementation):
        y, fn = run(x, w, b)
        assert fn.cols is not None
        y.backward(np.ones(y.shape, np.float32))
        x_grad, x.grad = x.grad, None
        with mc.autograd.no_grad():
            _, fn = run(x, w, b)
            assert fn.cols is None
        frozen = Tensor(w.data)  # requires_grad=False, as a frozen layer's kernel
        y, fn = run(x, frozen, b)
        assert fn.cols is None
        y.backward(np.ones(y.shape, np.float32))
    np.testing.assert_allclose(x.grad, x_grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("side, channels, path", [
    (16, 16, "winograd"),      # 16x16 outputs: Winograd's F(2x2, 3x3) (forward), then the pool
    (4, 128, "per tap"),       # a small padded map with many channels: one GEMM per tap, both ways
    (2, 64, "over weights"),   # weights outweigh the im2col matrix: the GEMM split over them, both ways
    (8, 8, "im2col"),          # none of these: the fused im2col loop
])
@pytest.mark.parametrize("mode", ["predict", "frozen", "trained"])
def test_the_fused_function_takes_the_plain_convolutions_fast_paths(side, channels, path, mode):
    """Where ``conv2d_forward`` has a faster path for the convolution than the
    fused im2col loop, the fused Function convolves that way and then pools:
    Winograd without a weight gradient to come (``predict``, a frozen kernel),
    the per-tap and weight-split paths always, forward and backward. Output
    and gradients equal the reference Conv2D(relu) + MaxPooling2D."""
    rng = np.random.default_rng(side)
    x = rng.standard_normal((3, side, side, channels)).astype(np.float32)
    w = (rng.standard_normal((3, 3, channels, 24)) / np.sqrt(9 * channels)).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32) * 0.1
    geom = WindowGeometry.make(side, side, (3, 3), (1, 1), "same")
    pool_geom = WindowGeometry.make(side, side, (2, 2), (2, 2), "valid")
    assert (path == "winograd") == numba_conv._winograd_pays(x, w, geom)
    assert (path == "per tap") == tapwise_conv.pays(x, w, geom)
    assert (path == "over weights") == numba_conv._wide(x, w, geom)

    def run(implementation):
        tensors = [Tensor(x, requires_grad=mode != "predict"), Tensor(w, requires_grad=mode == "trained"),
                   Tensor(b, requires_grad=mode == "trained")]
        with kernels.use(implementation):
            if mode == "predict":
                with mc.autograd.no_grad():
                    return [Conv2DReLUMaxPoolFunction(geom, pool_geom)(*tensors).data]
            y = Conv2DReLUMaxPoolFunction(geom, pool_geom)(*tensors)
            y.backward(np.random.default_rng(0).standard_normal(y.shape).astype(np.float32))
            return [y.data] + [t.grad for t in tensors if t.requires_grad]

    ours, reference = run("numba"), run("numpy")
    assert len(ours) == {"predict": 1, "frozen": 2, "trained": 4}[mode]
    for a, r in zip(ours, reference):
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-4)
