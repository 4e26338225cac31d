"""Random numbers on the GPU path (``minicnn.random.DeviceStream``): computed
where the data lives from a (key, position) pair that lives there too, so a
step draws without a host copy and a CUDA graph can capture Dropout.

Run on the CPU with NumPy standing in for CuPy (``NumpyAsDevice``): the same
xp code runs on a card, where only the array module differs."""
from __future__ import annotations

import numpy as np
import pytest
from _device import NumpyAsDevice

import minicnn as mc
from minicnn import backend, layers, random, utils
from minicnn.models.gpu import graph
from minicnn.random import DeviceStream


def test_the_stream_is_a_hash_of_key_plus_position_split_anywhere():
    """Drawing 10 then 20 numbers gives the same 30 as drawing 30 at once,
    and the first value is SplitMix64's output for key + golden ratio × 0."""
    one, two = DeviceStream(42, np), DeviceStream(42, np)
    whole = one.bits(30)
    np.testing.assert_array_equal(np.concatenate([two.bits(10), two.bits(20)]), whole)
    z = (42 * 1 + 0) & (2**64 - 1)  # position 0
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    assert int(whole[0]) == z ^ (z >> 31)
    assert int(one.state[1]) == 30
    assert not np.array_equal(DeviceStream(43, np).bits(30), whole)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_uniform_numbers_are_uniform_on_0_1_and_exact_in_their_dtype(dtype):
    u = DeviceStream(7, np).uniform((400, 500), dtype)
    assert u.dtype == dtype and u.shape == (400, 500)
    assert u.min() >= 0 and u.max() < 1
    step = 2.0 ** -{np.float16: 11, np.float32: 24, np.float64: 53}[dtype]
    np.testing.assert_array_equal(np.mod(u.astype(np.float64), step), 0)
    counts = np.histogram(u, bins=128, range=(0, 1))[0]  # 128 bins: each holds as many float16 values
    expected = u.size / 128
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 127 + 4 * np.sqrt(2 * 127)  # 127 degrees of freedom: mean 127, sd 16
    # neighbours in the stream are uncorrelated (a weak hash shows up here first)
    flat = u.ravel().astype(np.float64)
    assert abs(np.corrcoef(flat[:-1], flat[1:])[0, 1]) < 0.01


@pytest.mark.parametrize("shape", [(200_001,), (300, 301)])
def test_normal_numbers_have_mean_0_sd_1_and_normal_tails(shape):
    z = DeviceStream(3, np).normal(shape, np.float64)
    assert z.shape == shape and np.isfinite(z).all()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.mean(np.abs(z) > 1.96) - 0.05) < 0.003  # the two-sided 5 % tail
    assert abs(np.mean(z ** 4) - 3) < 0.1                   # kurtosis of a normal


def test_draws_copy_nothing_to_the_device_and_move_the_position_in_place():
    device = NumpyAsDevice()
    stream = DeviceStream(5, device)
    state = stream.state
    assert device.copies == 1  # (key, position), once
    for _ in range(3):
        stream.uniform((8, 8), np.float32)
        stream.normal((3, 5), np.float32)
    assert device.copies == 1 and stream.state is state
    stream.rekey(9)
    assert stream.state is state and list(state) == [9, 0]  # in place: a captured step sees it


@pytest.fixture
def on_the_stand_in_device(monkeypatch):
    """Layers see their inputs as GPU arrays and take the GPU branch."""
    device = NumpyAsDevice()
    monkeypatch.setattr(backend, "get_array_module", lambda *arrays: device)
    return device


def masks(layer, calls=2):
    return [layer(np.ones((64, 100), "float32"), training=True).numpy() for _ in range(calls)]


def test_dropout_on_the_gpu_path_keeps_1_minus_rate_scaled_and_draws_on_the_device(on_the_stand_in_device):
    layer = layers.Dropout(0.3)
    first = masks(layer, 1)[0]  # the first draw keys the layer's stream: one host number, one copy
    before, copies = random.get_state(), on_the_stand_in_device.copies
    second, third = masks(layer)
    assert random.get_state() == before and on_the_stand_in_device.copies == copies
    for mask in (first, second, third):
        assert set(np.unique(mask)) <= {0.0, np.float32(1 / 0.7)}
        assert abs((mask > 0).mean() - 0.7) < 0.03
    assert not np.array_equal(second, third)


def test_set_random_seed_after_a_layers_first_draw_keys_its_stream_again(on_the_stand_in_device):
    """(That a seed repeats the masks on this path is in test_layer_seeds.py.)"""
    utils.set_random_seed(3)
    want = masks(layers.Dropout(0.5))
    layer = layers.Dropout(0.5)
    masks(layer)
    utils.set_random_seed(3)
    np.testing.assert_array_equal(masks(layer), want)


def test_gaussian_noise_on_the_gpu_path_has_the_asked_sd_and_passes_gradients(on_the_stand_in_device):
    layer = layers.GaussianNoise(0.2)
    x = np.zeros((200, 300), "float32")
    noise = layer(x, training=True).numpy()
    assert noise.dtype == np.float32 and abs(noise.std() - 0.2) < 0.005 and abs(noise.mean()) < 0.005
    assert not np.array_equal(noise, layer(x, training=True).numpy())
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)


def test_a_float32_layer_draws_float32_numbers_on_the_device(on_the_stand_in_device, monkeypatch):
    drawn = []
    original = DeviceStream.uniform

    def recording(self, shape, dtype=np.float64):
        drawn.append(np.dtype(dtype))
        return original(self, shape, dtype)

    monkeypatch.setattr(DeviceStream, "uniform", recording)
    masks(layers.Dropout(0.5), 1)
    layers.GaussianNoise(0.1)(np.zeros((4, 3), "float32"), training=True)
    assert drawn == [np.float32, np.float32]


def test_a_captured_step_keys_the_streams_before_it_runs():
    """``CapturedTrainStep`` makes each device stream, and keys it again after
    set_random_seed, before the step, so no host copy happens inside a capture
    and replays (which read key and position from device memory) follow the seed."""
    from minicnn.models.gpu.graph import CapturedTrainStep  # noqa: PLC0415 - imports no CuPy

    device = NumpyAsDevice()
    model = mc.Sequential([mc.Input((8,)), layers.Dropout(0.5), layers.GaussianNoise(0.1), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    step = CapturedTrainStep(model)
    utils.set_random_seed(1)
    step._prepare_random_streams(device)
    streams = [model.layers[i]._random._device for i in (0, 1)]
    assert device.copies == 2 and all(s is not None for s in streams)
    keys = [int(s.state[0]) for s in streams]
    step._prepare_random_streams(device)
    assert device.copies == 2  # nothing to do
    utils.set_random_seed(2)
    step._prepare_random_streams(device)
    assert device.copies == 4 and [model.layers[i]._random._device for i in (0, 1)] == streams  # in place
    assert [int(s.state[0]) for s in streams] != keys


def test_a_cuda_graph_accepts_dropout_and_gaussian_noise_but_not_host_drawn_augmentation():
    def model(*extra):
        m = mc.Sequential([mc.Input((8, 8, 3)), *extra, layers.Flatten(), layers.Dense(2)])
        m.compile(optimizer="adam", loss="mse")
        return m

    noisy = model(layers.GaussianNoise(0.1), layers.SpatialDropout2D(0.2), layers.Dropout(0.5))
    graph._check_capturable(noisy, noisy.optimizer)
    flipping = model(layers.RandomFlip())
    with pytest.raises(graph.NotCapturable, match="RandomFlip"):
        graph._check_capturable(flipping, flipping.optimizer)
