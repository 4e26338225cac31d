"""Per-step work that would make a GPU step wait for the device: turning a
device value into a Python number (``float``, ``bool``, ``.item()``). Checked
on the CPU with an array type that counts those conversions (on a GPU each is
a synchronisation), and with a stand-in "device" loss for TerminateOnNaN."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.callbacks import monitors

from _device import NumpyAsDevice


class Counting(np.ndarray):
    """An ndarray that counts how often its value is read into Python."""

    reads = 0

    def __float__(self):
        Counting.reads += 1
        return float(np.asarray(self))

    def __bool__(self):
        Counting.reads += 1
        return bool(np.asarray(self))

    def item(self, *args):
        Counting.reads += 1
        return np.asarray(self).item(*args)


@pytest.mark.parametrize("option", [{"clipnorm": 0.5}, {"clipvalue": 0.1}, {"global_clipnorm": 0.5}])
def test_gradient_clipping_reads_nothing_into_python(option):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype("float32").view(Counting) for s in [(3, 4), (4,), (2, 2, 3)]]
    optimizer = mc.optimizers.SGD(0.1, **option)
    Counting.reads = 0
    clipped = optimizer._clip(grads)
    assert Counting.reads == 0
    plain = mc.optimizers.SGD(0.1, **option)._clip([np.asarray(g) for g in grads])  # the same numbers
    for a, b in zip(clipped, plain):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-6)


def test_terminate_on_nan_reads_a_device_loss_only_every_so_many_batches(monkeypatch):
    reads = []

    class DeviceLoss:
        """Stands for a CuPy scalar: reading it is a synchronisation."""

        def __float__(self):
            reads.append(1)
            return float("nan")

    monkeypatch.setattr(monitors, "get_array_module", lambda a: "cupy" if isinstance(a, DeviceLoss) else np)

    class Logs(dict):
        batch_loss = DeviceLoss()

    callback = monitors.TerminateOnNaN()
    callback.model = type("Model", (), {"stop_training": False})()
    for batch in range(1, monitors.GPU_NAN_CHECK_EVERY):
        callback.on_train_batch_end(batch, Logs())
    assert reads == [] and not callback.model.stop_training
    callback.on_train_batch_end(monitors.GPU_NAN_CHECK_EVERY, Logs())
    assert reads == [1] and callback.model.stop_training


def test_a_captured_step_computes_adams_step_size_on_the_device():
    """A CUDA-graph step (``models/gpu/graph.py``) advances Adam's step counter
    and computes its step size with device arrays, no copy from the host per
    step: checked with NumPy standing in for CuPy, counting host-to-device
    copies (``asarray``). The counter is set from the host once, and again only
    when ``iterations`` moved outside the step (a load)."""
    from minicnn.models.gpu.graph import CapturedTrainStep  # noqa: PLC0415 - imports no CuPy

    device = NumpyAsDevice()
    model = mc.Sequential([mc.Input((3,)), mc.layers.Dense(2)])
    optimizer = mc.optimizers.Adam(0.01)
    model.compile(optimizer=optimizer, loss="mse")
    step = CapturedTrainStep(model)
    for t in range(1, 6):
        step._sync_step_counter(device)
        step._advance_step_size(device)
        assert step.alpha.dtype == np.float32
        assert step.alpha[0] == np.float32(optimizer.step_size(0.01, t))
        optimizer.iterations += 1  # what the step's apply() counts
    assert device.copies == 1
    optimizer.iterations = 100  # optimizer state loaded
    step._sync_step_counter(device)
    step._advance_step_size(device)
    assert device.copies == 2 and step.alpha[0] == np.float32(optimizer.step_size(0.01, 101))
