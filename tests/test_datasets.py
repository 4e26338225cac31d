"""CIFAR-10 loading: every format, the search order, downloads, the cache, damage."""
from __future__ import annotations

import functools
import http.server
import threading
import time

import numpy as np
import pytest

import minicnn as mc
from _data import class_images, write_image_tar, write_image_tree, write_pickle_dir, write_pickle_tar
from minicnn.datasets import _sources, cifar10
from minicnn.datasets._sources import DatasetError
from minicnn.datasets.download import md5_of

TRAIN, TEST = class_images(3, seed=1), class_images(2, seed=2)


pytestmark = pytest.mark.usefixtures("isolated_datasets")  # no real data, cache or home leaks in


def _check(loaded, train=TRAIN, test=TEST):
    (x, y), (xt, yt) = loaded
    assert x.dtype == np.uint8 and y.dtype == np.uint8 and xt.dtype == np.uint8 and yt.dtype == np.uint8
    assert x.shape == (len(train[0]), 32, 32, 3) and y.shape == (len(train[0]), 1)
    assert xt.shape == (len(test[0]), 32, 32, 3) and yt.shape == (len(test[0]), 1)
    # order inside the set may differ between formats; compare as (label, image) multisets
    for (got_x, got_y), (want_x, want_y) in (((x, y), train), ((xt, yt), test)):
        key = lambda xs, ys: sorted((int(l), im.tobytes()) for im, l in zip(xs, np.ravel(ys)))  # noqa: E731
        assert key(got_x, got_y) == key(want_x, want_y)


def test_pickle_archive_and_folder(tmp_path):
    archive = write_pickle_tar(tmp_path / "cifar-10-python.tar.gz", TRAIN, TEST, tmp_path / "w")
    _check(cifar10.load_data(archive, md5=md5_of(archive)))  # the official name: checked against md5=
    _check(cifar10.load_data(write_pickle_dir(tmp_path / "cifar-10-batches-py", TRAIN, TEST)))


def test_image_tarball_and_class_folders(tmp_path):
    _check(cifar10.load_data(write_image_tar(tmp_path / "imgs.tar.gz", TRAIN, TEST)))
    _check(cifar10.load_data(write_image_tree(tmp_path / "tree", TRAIN, TEST)))
    (x, y), _ = cifar10.load_data(write_image_tar(tmp_path / "jpg.tar.gz", TRAIN, TEST, fmt="jpg"))
    want = TRAIN[0][np.argsort(TRAIN[1], kind="stable")]  # JPEG is lossy: colours survive, noise does not
    assert np.abs(x.mean(axis=(1, 2)) - want.mean(axis=(1, 2))).max() < 4
    np.testing.assert_array_equal(y.ravel(), np.sort(TRAIN[1]))


def test_search_order_argument_env_repo_copy_keras_cache(tmp_path, monkeypatch):
    small = write_image_tar(tmp_path / "small.tar.gz", TRAIN, TEST)
    other = write_image_tree(tmp_path / "other", class_images(1, seed=9), TEST)
    keras_dir = tmp_path / "home" / ".keras" / "datasets"
    write_pickle_dir(keras_dir / "cifar-10-batches-py", class_images(2, seed=3), TEST)
    assert len(cifar10.load_data()[0][0]) == 20  # 4. the Keras cache
    monkeypatch.setattr(cifar10, "REPO_COPY", other)
    assert len(cifar10.load_data()[0][0]) == 10  # 3. the repo copy beats the Keras cache
    monkeypatch.setenv("MINICNN_DATA", str(small))
    assert len(cifar10.load_data()[0][0]) == 30  # 2. $MINICNN_DATA beats the repo copy
    assert len(cifar10.load_data(path=other)[0][0]) == 10  # 1. the argument beats everything
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "missing"))
    with pytest.raises(DatasetError, match="MINICNN_DATA"):
        cifar10.load_data()


def test_download_from_file_url_is_verified(tmp_path):
    archive = write_pickle_tar(tmp_path / "served.tar.gz", TRAIN, TEST, tmp_path / "w")
    _check(cifar10.load_data(url=archive.as_uri(), md5=md5_of(archive), cache_dir=tmp_path / "dl"))
    assert (tmp_path / "dl" / "cifar-10-python.tar.gz").exists()
    with pytest.raises(DatasetError, match="MD5"):
        cifar10.load_data(url=archive.as_uri(), md5="0" * 32, cache_dir=tmp_path / "bad")
    assert not list((tmp_path / "bad").glob("*.tar.gz")) and not list((tmp_path / "bad").glob(".tmp-*"))
    with pytest.raises(DatasetError, match="MINICNN_DATA"):
        cifar10.load_data(url=(tmp_path / "nothing-here").as_uri(), cache_dir=tmp_path / "none")


def test_download_over_http_on_loopback(tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    archive = write_pickle_tar(served / "cifar-10-python.tar.gz", TRAIN, TEST, tmp_path / "w")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cifar-10-python.tar.gz"
        _check(cifar10.load_data(url=url, md5=md5_of(archive)))
    finally:
        server.shutdown()


def test_second_load_comes_from_the_cache_fast(tmp_path, monkeypatch):
    source = write_image_tar(tmp_path / "imgs.tar.gz", TRAIN, TEST)
    first = cifar10.load_data(source)
    monkeypatch.setattr(_sources, "read_source", lambda *a: pytest.fail("source decoded again"))
    start = time.perf_counter()
    second = cifar10.load_data(source)
    assert time.perf_counter() - start < 0.5
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_half_written_cache_is_never_used(tmp_path):
    source = write_image_tar(tmp_path / "imgs.tar.gz", TRAIN, TEST)
    cifar10.load_data(source)
    [cache] = (tmp_path / "cache").glob("*.npz")
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])  # a crash halfway through a write
    (tmp_path / "cache" / ".tmp-leftover.npz").write_bytes(b"partial")
    _check(cifar10.load_data(source))  # rebuilt from the source, correct again
    with np.load(cache) as z:
        assert z["x_train"].shape == (30, 32, 32, 3)


@pytest.mark.parametrize("damage", ["truncated-official-name", "truncated", "garbage", "empty-tree"])
def test_damaged_sources_give_a_clear_error(tmp_path, damage):
    good = write_pickle_tar(tmp_path / "good.tar.gz", TRAIN, TEST, tmp_path / "w")
    if damage.startswith("truncated"):
        bad = tmp_path / ("cifar-10-python.tar.gz" if damage == "truncated-official-name" else "mine.tar.gz")
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "garbage":
        bad = tmp_path / "garbage.tar.gz"
        bad.write_bytes(b"this is not an archive" * 100)
    else:
        bad = tmp_path / "empty"
        (bad / "train").mkdir(parents=True)
        (bad / "test").mkdir()
    with pytest.raises(DatasetError, match="no images|truncated or corrupt|truncated, corrupt") as info:
        cifar10.load_data(bad)
    assert str(bad) in str(info.value) or damage == "empty-tree"
    assert ("MD5 checksum" in str(info.value)) == (damage == "truncated-official-name")
    assert not list((tmp_path / "cache").glob("*.npz"))


def test_image_dataset_from_directory_split_labels_and_fit(tmp_path):
    root = write_image_tree(tmp_path / "tree", TRAIN, TEST)
    kwargs = dict(image_size=(16, 16), batch_size=4, validation_split=0.2, seed=7)
    train, val = mc.utils.image_dataset_from_directory(root / "train", subset="both", **kwargs)
    again = mc.utils.image_dataset_from_directory(root / "train", subset="validation", **kwargs)
    assert train.class_names == sorted(cifar10.CLASS_NAMES) and len(train.file_paths) == 24
    assert val.file_paths == again.file_paths and not set(val.file_paths) & set(train.file_paths)
    assert len(train) == 6 and len(val) == 2
    x, y = next(iter(train))
    assert x.shape == (4, 16, 16, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 255
    assert y.dtype == np.int32 and y.shape == (4,)
    for path, label in zip(train.file_paths, train.labels):
        assert train.class_names[label] in path
    cat = mc.utils.image_dataset_from_directory(root / "test", label_mode="categorical", image_size=(32, 32),
                                                batch_size=5, shuffle=False)
    xs, ys = next(iter(cat))
    assert ys.shape == (5, 10) and np.all(ys.sum(axis=1) == 1)
    np.testing.assert_array_equal(xs[0], mc.utils.load_image_array(cat.file_paths[0]))  # 32x32: not resized
    model = mc.Sequential([mc.Input((16, 16, 3)), mc.layers.Rescaling(1 / 255), mc.layers.Flatten(),
                           mc.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2
    assert model.predict(val).shape == (6, 10)
    with pytest.raises(ValueError, match="seed"):
        mc.utils.image_dataset_from_directory(root / "train", validation_split=0.2, subset="training")
