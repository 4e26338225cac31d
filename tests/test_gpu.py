"""The GPU backend: the same engine on CuPy, checked against the CPU.

Tests marked ``gpu`` need CuPy and an NVIDIA GPU; elsewhere (CI) they are
skipped with the reason. ``python -m benchmarks.gpu`` runs them on a GPU
machine together with the benchmarks. The first tests need no GPU: they check
the one clear error a machine without CuPy or without a driver gets.

Tolerances: float32 rel 1e-5 (CuPy leaves TF32 off unless CUPY_TF32=1, and
these tests refuse to run with it on), float64 rel 1e-10. The error measure is
the parity suite's: max|a - b| / max|b|.
"""
from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicnn as mc
from benchmarks.gpu.parity_outputs import layer_results
from minicnn import backend
from minicnn.models.gpu import on_device
from minicnn.models.gpu.graph import CapturedTrainStep
from minicnn.models.gpu.prefetch import DeviceBatches
from minicnn.ops import im2col as windows
from minicnn.ops import kernels, pool
from minicnn.ops.shapes import WindowGeometry

TOL = {"float32": 1e-5, "float64": 1e-10}
HAS_GPU = backend.gpu_available()


def rel_err(a, b) -> float:
    a, b = backend.to_numpy(a).astype(np.float64), backend.to_numpy(b).astype(np.float64)
    return float(np.max(np.abs(a - b), initial=0.0) / max(float(np.max(np.abs(b), initial=0.0)), 1e-300))


@pytest.fixture
def restore_device():
    old = backend.get_device()
    yield
    backend.set_device(old)


# -- without a GPU: one clear message --------------------------------------------------------
def test_missing_cupy_gives_one_clear_error(monkeypatch, restore_device):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError
    with pytest.raises(backend.BackendError, match=r"needs CuPy.*minicnn\[gpu-cuda12\].*MINICNN_DEVICE=cpu"):
        backend.set_device("gpu")
    assert backend.get_device() != "gpu"
    assert not backend.gpu_available()
    backend.set_device("auto")
    assert backend.get_device() == "cpu"


def test_missing_driver_gives_the_same_error(monkeypatch, restore_device):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device)))
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(backend.BackendError, match="no CUDA-capable device"):
        backend.set_device("gpu")


def test_environment_variable_asks_for_the_gpu(monkeypatch, restore_device):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setitem(backend._state, "device", None)
    monkeypatch.setenv("MINICNN_DEVICE", "gpu")
    with pytest.raises(backend.BackendError, match="MINICNN_DEVICE=gpu needs CuPy"):
        backend.get_device()


def test_cpu_runs_keep_the_plain_step_and_batches(restore_device):
    backend.set_device("cpu")
    model = mc.applications.cifar10_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    batches = [(np.zeros((2, 32, 32, 3)), np.zeros(2))]
    assert on_device(model, batches) == (batches, model._train_batch)


# -- on a GPU ------------------------------------------------------------------------------
@pytest.fixture
def on_gpu(restore_device):
    if os.environ.get("CUPY_TF32", "0") != "0":
        pytest.fail("CUPY_TF32 is on: float32 GEMMs lose bits, the 1e-5 comparisons would be meaningless")
    backend.set_device("gpu")
    return backend.default_xp()


def _layer_cases():
    from parity.test_layers import LAYER_CASES  # noqa: PLC0415 - the parity suite's own configurations

    return sorted(LAYER_CASES.items())


@pytest.mark.parametrize("label,strategy", _layer_cases(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and an NVIDIA GPU (none found)")
def test_layer_forward_and_backward_gpu_equals_cpu(label, strategy, on_gpu):
    """Every layer, with the parity suite's hypothesis-drawn configurations (the
    minicnn side of the parity suite, on the GPU: TensorFlow is not on the GPU
    machine, the CPU side is checked against Keras by ``parity/``). Inputs and
    weights are drawn from the case's seed on the host, the same on both devices
    (BatchNormalization's variances positive, as the parity suite draws them)."""
    @settings(max_examples=15, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def check(case):
        backend.set_device("cpu")
        want, _ = layer_results(label, *case)
        backend.set_device("gpu")
        got, _ = layer_results(label, *case)
        assert set(got) == set(want), label
        for name, w in want.items():
            g = got[name]
            assert g.shape == w.shape and rel_err(g, w) <= TOL[np.dtype(case[2]).name], (label, name, rel_err(g, w))

    check()


@st.composite
def sweeps(draw):
    n, h, w, c = draw(st.integers(1, 16)), draw(st.integers(1, 40)), draw(st.integers(1, 40)), draw(st.integers(1, 64))
    kernel_size = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["same", "valid"]))
    try:
        geom = WindowGeometry.make(h, w, kernel_size, strides, padding)
    except ValueError:
        geom = WindowGeometry.make(h, w, (1, 1), (1, 1), "valid")
    return (n, h, w, c), geom, draw(st.sampled_from(["float32", "float64"])), draw(st.integers(0, 2**31 - 1))


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and an NVIDIA GPU (none found)")
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(sweeps())
def test_kernel_slots_gpu_equal_reference(case):
    """Each GPU override (``kernels/cupy_gpu.py``) against the reference code on the CPU."""
    import cupy  # noqa: PLC0415

    from minicnn.ops.kernels import cupy_gpu  # noqa: PLC0415 - imports CuPy

    shape, geom, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, shape).astype(dtype)  # ties in max pooling
    out_shape = (shape[0], geom.out_h, geom.out_w, shape[3])
    g = rng.standard_normal(out_shape).astype(dtype)
    tol = TOL[dtype]

    references = {"im2col": windows.im2col, "col2im": windows.col2im,
                  "maxpool_forward": pool.maxpool_forward, "maxpool_backward": pool.maxpool_backward,
                  "avgpool_forward": pool.avgpool_forward, "avgpool_backward": pool.avgpool_backward,
                  "relu_forward": lambda a: (np.maximum(a, 0), a > 0), "relu_backward": lambda a, mask: a * mask}

    def both(name, *args):
        with kernels.use("numpy"):
            host = references[name](*args)
        dev = getattr(cupy_gpu, name)(*[cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args])
        return host, dev

    host, dev = both("im2col", x, geom)
    assert rel_err(dev, host) == 0
    cols = rng.standard_normal(host.shape).astype(dtype)
    assert rel_err(*both("col2im", cols, shape, geom)[::-1]) <= tol
    (h_out, h_arg), (d_out, d_arg) = both("maxpool_forward", x, geom)
    assert rel_err(d_out, h_out) == 0 and (cupy.asnumpy(d_arg) == h_arg).all()
    assert rel_err(*both("maxpool_backward", g, h_arg, shape, geom)[::-1]) <= tol
    assert rel_err(*both("avgpool_forward", x, geom)[::-1]) <= tol
    assert rel_err(*both("avgpool_backward", g, shape, geom)[::-1]) <= tol
    (h_y, h_mask), (d_y, d_mask) = both("relu_forward", g)
    assert rel_err(d_y, h_y) == 0 and (cupy.asnumpy(d_mask) == h_mask).all()
    assert rel_err(*both("relu_backward", g, h_mask)[::-1]) == 0
    w, m, v = (rng.standard_normal(64).astype(dtype) for _ in range(3))
    v = np.abs(v)
    grads = rng.standard_normal(64).astype(dtype)
    dw, dm, dv = (cupy.asarray(a) for a in (w, m, v))
    adam = mc.optimizers.Adam(1e-3 * (1 - 0.9) / np.sqrt(1 - 0.999))  # step 1: step size 1e-3
    adam.iterations = 1
    with kernels.use("numpy"):
        adam.update(w, grads, {"m": m, "v": v}, adam.learning_rate)
    cupy_gpu.adam_update(dw, cupy.asarray(grads), dm, dv, None, 1e-3, 0.9, 0.999, 1e-7)
    assert max(rel_err(dw, w), rel_err(dm, m), rel_err(dv, v)) <= tol


def _seed_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, n)


def _seed_model(optimizer="adam"):
    mc.utils.set_random_seed(7)
    model = mc.applications.cifar10_cnn()
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _on_each_device(run):
    """``run()`` with the CPU, then the GPU, as the device: (CPU result, GPU result)."""
    results = []
    for device in ("cpu", "gpu"):
        backend.set_device(device)
        results.append(run())
    return results


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and an NVIDIA GPU (none found)")
def test_seed_cnn_training_gpu_equals_cpu(on_gpu):
    """Three Adam steps of the seed CNN: same losses and weights on both devices."""
    x, y = _seed_data(96)

    def run():
        model = _seed_model()
        losses = [model.train_on_batch(x[i:i + 32], y[i:i + 32]) for i in range(0, 96, 32)]
        return losses, [backend.to_numpy(w) for w in model.get_weights()]

    (l_cpu, w_cpu), (l_gpu, w_gpu) = _on_each_device(run)
    assert rel_err(np.array(l_gpu), np.array(l_cpu)) <= 1e-4
    assert max(rel_err(a, b) for a, b in zip(w_gpu, w_cpu)) <= 1e-4


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and an NVIDIA GPU (none found)")
def test_constraints_and_a_dict_of_outputs_train_the_same_on_both_devices(on_gpu):
    """Constraints projected on the device, per-output sample weights, a dict model's predict."""
    x, y = _seed_data(64)

    def run():
        mc.utils.set_random_seed(3)
        inputs = mc.Input((32, 32, 3))
        h = mc.layers.Conv2D(8, 3, kernel_constraint=mc.constraints.MaxNorm(0.5, axis=[0, 1, 2]))(inputs)
        h = mc.layers.GlobalAveragePooling2D()(h)
        model = mc.Model(inputs, {"cls": mc.layers.Dense(10, activation="softmax", bias_constraint="non_neg")(h),
                                  "reg": mc.layers.Dense(1, kernel_constraint="unit_norm")(h)})
        model.compile(optimizer=mc.optimizers.SGD(0.5), loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
        model.fit(x, {"cls": y, "reg": y[:, None] / 10.0}, sample_weight={"reg": np.linspace(0, 1, 64)},
                  batch_size=16, epochs=1, shuffle=False, verbose=0)
        return [backend.to_numpy(w) for w in model.get_weights()], model.predict(x[:8])

    (w_cpu, p_cpu), (w_gpu, p_gpu) = _on_each_device(run)
    assert max(rel_err(a, b) for a, b in zip(w_gpu, w_cpu)) <= 1e-4
    assert list(p_gpu) == ["cls", "reg"] and rel_err(p_gpu["cls"], p_cpu["cls"]) <= 1e-4


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and an NVIDIA GPU (none found)")
def test_save_on_gpu_load_on_cpu_and_back(on_gpu, tmp_path):
    x, y = _seed_data(64)
    model = _seed_model()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    want = model.predict(x[:8])
    assert isinstance(want, np.ndarray)  # predict returns NumPy by default
    model.save_weights(tmp_path / "gpu.weights.h5")
    backend.set_device("cpu")
    cpu_model = _seed_model()
    cpu_model.load_weights(tmp_path / "gpu.weights.h5")
    assert rel_err(cpu_model.predict(x[:8]), want) <= 1e-5
    cpu_model.save_weights(tmp_path / "cpu.weights.h5")
    backend.set_device("gpu")
    again = _seed_model()
    again.load_weights(tmp_path / "cpu.weights.h5")
    assert rel_err(again.predict(x[:8]), want) <= 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and an NVIDIA GPU (none found)")
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_captured_step_equals_eager_step(on_gpu, optimizer):
    """Eight steps (two warm-up, one capture, replays, a smaller last batch that
    gets its own graph): losses and weights equal the eager run's."""
    x, y = _seed_data(8 * 32 + 16)
    eager, captured = _seed_model(optimizer), _seed_model(optimizer)
    step = CapturedTrainStep(captured)
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, len(x), 32)]
    for xb, yb in batches:
        want, _ = eager._train_batch(on_gpu.asarray(xb), on_gpu.asarray(yb))
        got, _ = step(on_gpu.asarray(xb), on_gpu.asarray(yb))
        assert rel_err(got.data, want.data) <= 1e-5
    assert step.disabled_reason is None, step.disabled_reason
    assert step.replays >= 6 and len(step.graphs) == 2
    assert captured.optimizer.iterations == eager.optimizer.iterations == len(batches)
    assert max(rel_err(a, b) for a, b in zip(captured.get_weights(), eager.get_weights())) <= 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and an NVIDIA GPU (none found)")
def test_a_host_drawn_augmentation_is_not_captured(on_gpu):
    model = mc.Sequential([mc.layers.Input((4, 4, 3)), mc.layers.RandomFlip(), mc.layers.Flatten(),
                           mc.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    step = CapturedTrainStep(model, warmup=0)
    with pytest.warns(RuntimeWarning, match="draws random numbers on the host"):
        step(on_gpu.ones((4, 4, 4, 3), dtype="float32"), on_gpu.zeros((4, 2), dtype="float32"))
    assert step.replays == 0 and model.optimizer.iterations == 1


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and an NVIDIA GPU (none found)")
def test_dropout_is_captured_and_every_replay_draws_a_fresh_mask(on_gpu):
    """Dropout's masks come from a stream on the card (``random.DeviceStream``):
    a replay reads the stream's position from device memory and moves it on."""
    model = mc.Sequential([mc.layers.Input((64,)), mc.layers.Dropout(0.5),
                           mc.layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    model.compile(optimizer=mc.optimizers.SGD(0.0), loss="mse")
    step = CapturedTrainStep(model, warmup=1)
    x, y = on_gpu.ones((8, 64), dtype="float32"), on_gpu.zeros((8, 1), dtype="float32")
    losses = [float(step(x, y)[0].data) for _ in range(6)]
    assert step.disabled_reason is None, step.disabled_reason
    assert step.replays >= 4 and len(set(losses)) == len(losses), losses
    assert int(model.layers[0]._random._device.state[1]) == 6 * 8 * 64


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and an NVIDIA GPU (none found)")
def test_prefetched_batches_equal_host_batches(on_gpu):
    x, y = _seed_data(100)
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 100, 32)]
    got = list(DeviceBatches(batches))
    assert len(got) == len(batches)
    for (dx, dy), (hx, hy) in zip(got, batches):
        assert isinstance(dx, on_gpu.ndarray) and (on_gpu.asnumpy(dx) == hx).all() and (on_gpu.asnumpy(dy) == hy).all()


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and an NVIDIA GPU (none found)")
@pytest.mark.parametrize("graph", ["0", "1"])
def test_training_stops_allocating_after_a_few_steps(on_gpu, monkeypatch, graph):
    """fit on the GPU: the memory pool stops growing after the first epoch."""
    monkeypatch.setenv("MINICNN_CUDA_GRAPH", graph)
    x, y = _seed_data(512)
    model = _seed_model()
    pool = on_gpu.get_default_memory_pool()
    sizes = []
    for _ in range(3):
        model.fit(x, y, batch_size=128, epochs=1, verbose=0, shuffle=True)
        sizes.append(pool.total_bytes())
    assert sizes[2] == sizes[1], f"pool size per epoch: {sizes}"
    if graph == "1":
        assert model._cuda_graph_step.replays > 0, model._cuda_graph_step.disabled_reason


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and an NVIDIA GPU (none found)")
def test_seed_recipe_smoke_on_gpu(on_gpu, tmp_path):
    """The seed recipe's CLI on the GPU (2 % subset, 2 epochs; the full 20-epoch
    run is ``python -m benchmarks.gpu``): it trains and evaluates to finite numbers."""
    import json  # noqa: PLC0415

    from minicnn.cli import main  # noqa: PLC0415

    assert main(["train", "--quick", "--epochs", "2", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert np.isfinite(result["test_loss"]) and 0.0 <= result["test_accuracy"] <= 1.0
