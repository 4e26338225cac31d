"""Fuzzed weights files and CIFAR-10 batches: every corruption either loads correctly or raises the project's
own error naming the file (WeightsFileError, DatasetError), and a failed weights load changes no weight."""
from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
from _data import class_images, python2_batch
from minicnn import layers
from minicnn.datasets import DatasetError
from minicnn.datasets.pickle_batches import read_batch
from minicnn.models.weight_values import WeightsFileError

FUZZ_EXAMPLES = 60  # per test; four tests
DATASETS = ["layers/conv2d/vars/0", "layers/conv2d/vars/1", "layers/dense/vars/0", "layers/dense/vars/1"]
H5_DTYPES = ["f2", "f4", "f8", "i1", "u1", "i8", "b1", "c8", "c16", "S3"]  # what h5py can store
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)
ANY_ARRAY = st.one_of(hnp.arrays(st.sampled_from([*H5_DTYPES, "U2", ">f4", ">u2"]), SHAPES),
                      hnp.arrays(np.dtype("O"), SHAPES, elements=st.one_of(st.integers(), st.binary(max_size=3))))
IMAGES, LABELS = class_images(1, seed=5)


def net():
    return mc.Sequential([mc.Input((5, 5, 1)), layers.Conv2D(2, 3, name="conv"), layers.Flatten(name="flat"),
                          layers.Dense(3, name="head")])


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "net.weights.h5"
    net().save_weights(path)
    return path


def snapshot(model):
    return [w.numpy().tobytes() for w in model.weights]


def check_weights_load(data: bytes, change=None) -> None:
    """Load ``data`` (then ``change(h5 file)``) into a fresh model: exactly the file's numbers, or a
    WeightsFileError naming the file with every weight as it was."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "net.weights.h5"
        path.write_bytes(data)
        if change is not None:
            with h5py.File(path, "a") as f:
                change(f)
        model = net()
        before = snapshot(model)
        try:
            model.load_weights(path)
        except WeightsFileError as error:
            assert str(path) in str(error)
            assert snapshot(model) == before
            return
        with h5py.File(path, "r") as f:
            for name, w in zip(DATASETS, model.weights):
                np.testing.assert_array_equal(w.numpy(), f[name][()].astype(np.float32))
                assert np.isfinite(w.numpy()).all()


def damaged(data: bytes, cut, flips) -> bytes:
    data = bytearray(data)
    for where, xor in flips:
        data[int(where * (len(data) - 1))] ^= xor
    return bytes(data if cut is None else data[:int(cut * len(data))])


CUTS = st.one_of(st.none(), st.floats(0.0, 1.0))
FLIPS = st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 255)), max_size=6)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(cut=CUTS, flips=FLIPS)
def test_fuzzed_weights_file_bytes(weights_file, cut, flips):
    check_weights_load(damaged(weights_file.read_bytes(), cut, flips))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(name=st.sampled_from(DATASETS),
       value=hnp.arrays(st.sampled_from(H5_DTYPES), hnp.array_shapes(min_dims=0, max_dims=4, max_side=4)))
def test_fuzzed_weights_file_dtypes_and_shapes(weights_file, name, value):
    def change(f):
        del f[name]
        f[name] = value

    check_weights_load(weights_file.read_bytes(), change)


BATCHES = [python2_batch(IMAGES, LABELS),
           pickle.dumps({b"data": IMAGES.transpose(0, 3, 1, 2).reshape(len(IMAGES), -1),
                         b"labels": [int(v) for v in LABELS]}, protocol=4)]


def check_batch(data: bytes):
    """Either a well-formed batch comes back or a DatasetError naming the file."""
    where = "/data/cifar-10-batches-py/data_batch_1"
    try:
        images, labels = read_batch(data, where, 10)
    except DatasetError as error:
        assert where in str(error)
        return
    assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
    assert labels.shape == (len(images), 1) and labels.dtype == np.uint8 and (labels < 10).all()


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(batch=st.sampled_from(BATCHES), cut=CUTS, flips=FLIPS)
def test_fuzzed_batch_bytes(batch, cut, flips):
    check_batch(damaged(batch, cut, flips))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(rows=ANY_ARRAY,
       labels=st.one_of(st.lists(st.integers(-3, 12), max_size=5), st.binary(max_size=4), st.none()),
       protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_fuzzed_batch_dtypes_and_shapes(rows, labels, protocol):
    check_batch(pickle.dumps({b"data": rows, b"labels": labels}, protocol=protocol))
