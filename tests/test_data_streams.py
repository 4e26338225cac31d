"""fit/evaluate/predict on streams of batches: PyDataset, generators, and clear errors, never a hang."""
import threading

import numpy as np
import pytest

import minicnn as mc

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 4)).astype("float32")
Y = RNG.integers(0, 3, 40)


def model():
    mc.utils.set_random_seed(1)
    m = mc.Sequential([mc.Input((4,)), mc.layers.Dense(3, activation="softmax")])
    m.compile(optimizer=mc.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


class Batches(mc.utils.PyDataset):
    def __init__(self, batch_size=8, **kwargs):
        super().__init__(**kwargs)
        self.batch_size, self.epochs_ended, self.threads = batch_size, 0, set()

    def __len__(self):
        return len(X) // self.batch_size

    def __getitem__(self, index):
        self.threads.add(threading.current_thread().name)
        s = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return X[s], Y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


@pytest.mark.parametrize("workers", [1, 3])
def test_a_py_dataset_trains_like_the_same_arrays(workers):
    """Batches in order, on_epoch_end after each pass; with worker threads the
    same numbers, loaded on other threads."""
    data = Batches(workers=workers, max_queue_size=2)
    streamed = model().fit(data, epochs=3, verbose=0).history
    arrays = model().fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    np.testing.assert_allclose(streamed["loss"], arrays["loss"], rtol=1e-6)
    assert data.epochs_ended == 3
    assert any(name.startswith("minicnn-data") for name in data.threads) == (workers > 1)
    m = model()
    assert m.evaluate(Batches(), verbose=0) == pytest.approx(m.evaluate(X, Y, batch_size=8, verbose=0))
    np.testing.assert_allclose(m.predict(Batches(workers=workers)), m.predict(X))


def test_a_generator_with_steps_per_epoch_continues_across_epochs():
    def forever():
        while True:
            for i in range(0, len(X), 8):
                yield X[i:i + 8], Y[i:i + 8]

    streamed = model().fit(forever(), steps_per_epoch=5, epochs=2, verbose=0).history
    arrays = model().fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(streamed["loss"], arrays["loss"], rtol=1e-6)
    finite = ((X[i:i + 8], Y[i:i + 8]) for i in range(0, len(X), 8))  # no steps: until it runs out
    assert len(model().fit(finite, epochs=1, verbose=0).history["loss"]) == 1
    m = model()
    gen = ((X[i:i + 8],) for i in range(0, len(X), 8))
    np.testing.assert_allclose(m.predict(gen), m.predict(X))


def test_a_stream_of_weighted_batches_weights_the_loss_as_sample_weight_does():
    w = np.linspace(0.5, 2.0, len(X))
    streamed = model().fit(iter([(X[i:i + 8], Y[i:i + 8], w[i:i + 8]) for i in range(0, 40, 8)]), epochs=1,
                           verbose=0).history
    arrays = model().fit(X, Y, sample_weight=w, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    np.testing.assert_allclose(streamed["loss"], arrays["loss"], rtol=1e-6)


def test_unsupported_data_is_a_clear_error_not_a_hang():
    with pytest.raises(TypeError, match="x must be an array.*PyDataset.*generator"):
        model().fit(object(), epochs=1, verbose=0)
    with pytest.raises(TypeError, match="must be a tuple"):
        model().fit(iter([X]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="use_multiprocessing=True is not supported"):
        Batches(use_multiprocessing=True)
