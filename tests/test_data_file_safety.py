"""A data set file from outside never runs code: crafted CIFAR-10 batches are refused by name, a file named
like the official archive must be it (MD5), and only the data set's own folder of a tarball is read."""
from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from _data import (CLASSES, class_images, python2_batch, write_image_tar, write_pickle_dir, write_pickle_tar,
                   _png)
from minicnn.datasets import DatasetError, cifar10
from minicnn.datasets.download import md5_of
from minicnn.datasets.pickle_batches import read_batch

TRAIN, TEST = class_images(3, seed=1), class_images(2, seed=2)


pytestmark = pytest.mark.usefixtures("isolated_datasets")  # no real data, cache or home leaks in


class ShellPayload:
    """What an attacker pickles: unpickling it calls os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


class QuietPayload(ShellPayload):
    """Writes a file with exec (which returns None), so the batch around it still looks normal."""

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def payload_batch(kind, marker) -> bytes:
    x, y = TRAIN[0][:2], TRAIN[1][:2]
    rows = x.transpose(0, 3, 1, 2).reshape(2, -1)
    payload = (ShellPayload if kind == "system" else QuietPayload)(marker)
    return pickle.dumps({b"data": rows, b"labels": [int(v) for v in y], b"batch_label": payload})


@pytest.mark.parametrize("kind", ["system", "exec"])
def test_the_payloads_really_run_under_plain_pickle(tmp_path, kind):
    """The control: these files are real attacks (the exec one even returns normal-looking data)."""
    marker = tmp_path / "ran"
    batch = pickle.loads(payload_batch(kind, marker), encoding="bytes")  # noqa: S301 - the point of the test
    assert marker.exists() and batch[b"data"].shape == (2, 3072)


@pytest.mark.parametrize("kind", ["system", "exec"])
@pytest.mark.parametrize("container", ["folder", "archive"])
def test_a_payload_batch_is_refused_and_nothing_runs(tmp_path, kind, container):
    marker = tmp_path / "ran"
    folder = write_pickle_dir(tmp_path / "cifar-10-batches-py", TRAIN, TEST)
    (folder / "data_batch_1").write_bytes(payload_batch(kind, marker))
    source = folder
    if container == "archive":
        source = tmp_path / "cifar-10-python.tar.gz"
        with tarfile.open(source, "w:gz") as tar:
            tar.add(folder, arcname="cifar-10-batches-py")
    with pytest.raises(DatasetError) as info:
        cifar10.load_data(source, md5=None if container == "folder" else md5_of(source))
    message = str(info.value)
    refused = "posix.system" if kind == "system" else "builtins.exec"
    where = (str(folder / "data_batch_1") if container == "folder"
             else f"{source} (member cifar-10-batches-py/data_batch_1)")
    assert message == (f"Refused to load {where}: it asks for the Python global '{refused}', which a CIFAR-10 "
                       "batch never contains (only dicts, lists, bytes, strings, ints and NumPy arrays). The file "
                       "may be malicious; nothing from it was run.")
    assert not marker.exists()
    assert not list((tmp_path / "cache").glob("*.npz"))


def test_the_official_python2_format_and_every_pickle_protocol_load():
    x, y = TRAIN
    rows = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
    files = [python2_batch(x, y)] + [pickle.dumps({"data": rows, "labels": [int(v) for v in y]}, protocol=p)
                                     for p in range(pickle.HIGHEST_PROTOCOL + 1)]
    for data in files:
        images, labels = read_batch(data, "batch", 10)
        np.testing.assert_array_equal(images, x)
        np.testing.assert_array_equal(labels.ravel(), y)
        assert images.dtype == np.uint8 and labels.shape == (len(x), 1)
    reference = pickle.loads(files[0], encoding="bytes")  # noqa: S301 - our own bytes: the builder is right
    np.testing.assert_array_equal(reference[b"data"], rows)


@pytest.mark.parametrize("content, refused", [
    ({b"data": np.array([1, "x"], dtype=object), b"labels": [0]}, "an array of element type 'O8'"),
    ({b"data": np.zeros(2, dtype=[("a", "u1"), ("b", "u1")]), b"labels": [0]}, "an array of element type 'V2'"),
    ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": np.frombuffer},
     "the Python global 'numpy.frombuffer'"),
    ({b"data": tarfile.TarInfo("x"), b"labels": [0]}, "the Python global 'tarfile.TarInfo'"),
])
def test_anything_but_plain_arrays_is_refused(content, refused):
    with pytest.raises(DatasetError, match=f"Refused to load batch: .*{refused}"):
        read_batch(pickle.dumps(content), "batch", 10)


@pytest.mark.parametrize("content, message", [
    ([1, 2], "batch is not a CIFAR-10 batch: it holds a list, not a dict"),
    ({b"labels": [0]}, "batch is not a CIFAR-10 batch: it has no 'data' entry"),
    ({b"data": b"\0" * 3072, b"labels": [0]}, "batch: 'data' is a bytes, not a NumPy array"),
    ({b"data": np.zeros((1, 3072), np.float32), b"labels": [0]},
     "batch: 'data' should be uint8 rows of 3072 bytes (N, 3072), got float32 of shape (1, 3072)"),
    ({b"data": np.zeros((1, 100), np.uint8), b"labels": [0]},
     "batch: 'data' should be uint8 rows of 3072 bytes (N, 3072), got uint8 of shape (1, 100)"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]},
     "batch: 'labels' should be a list of ints in [0, 10)"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "batch: 2 images but 1 labels"),
])
def test_wrong_contents_are_named(content, message):
    with pytest.raises(DatasetError) as info:
        read_batch(pickle.dumps(content), "batch", 10)
    assert str(info.value) == message


def test_a_file_named_like_the_official_archive_must_have_its_md5(tmp_path):
    archive = write_pickle_tar(tmp_path / "cifar-10-python.tar.gz", TRAIN, TEST, tmp_path / "w")
    actual = md5_of(archive)
    with pytest.raises(DatasetError) as info:
        cifar10.load_data(archive)
    assert str(info.value) == (
        f"{archive} is named like the official archive but its MD5 checksum is {actual}, not the published "
        f"{cifar10.OFFICIAL_MD5}: it is truncated, corrupt or a different file. Delete it (or point "
        "MINICNN_DATA elsewhere); to load a file of your own under this name anyway, pass md5=None.")
    assert not list((tmp_path / "cache").glob("*.npz"))
    assert len(cifar10.load_data(archive, md5=None)[0][0]) == 30  # the documented way to load one's own file
    keras_copy = tmp_path / "home" / ".keras" / "datasets" / "cifar-10-python.tar.gz"  # a found copy is checked
    keras_copy.parent.mkdir(parents=True)
    keras_copy.write_bytes(archive.read_bytes())
    with pytest.raises(DatasetError, match="MD5 checksum"):
        cifar10.load_data()


def _add(tar, name, data=b"", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data)
    tar.addfile(info, io.BytesIO(data))


def _with_extra_members(archive, target, add):
    """A copy of the .tar.gz ``archive`` as ``target``, with what ``add(tar)`` puts after its members."""
    with tarfile.open(archive) as source, tarfile.open(target, "w:gz") as tar:
        for member in source.getmembers():
            tar.addfile(member, source.extractfile(member) if member.isfile() else None)
        add(tar)
    return target


def test_only_the_data_sets_folder_of_an_image_tarball_is_read(tmp_path):
    planted = _png(np.full((32, 32, 3), 7, np.uint8))

    def plant(tar):
        for name in ("evil/train/cat/0000.png", "../train/cat/0001.png", "train/cat/0002.png",
                     "cifar10/train/cat/.hidden.png", "cifar10/extra/train/cat/0003.png",
                     "__MACOSX/cifar10/train/cat/._0000.png"):
            _add(tar, name, planted)
        _add(tar, "cifar10/train/cat/readme.txt", b"not an image")
        _add(tar, "cifar10/train/cat/link.png", kind=tarfile.SYMTYPE, link="../../../evil/train/cat/0000.png")

    clean = write_image_tar(tmp_path / "clean.tar.gz", TRAIN, TEST)
    (x, y), (xt, yt) = cifar10.load_data(_with_extra_members(clean, tmp_path / "imgs.tar.gz", plant))
    assert len(x) == len(TRAIN[0]) and len(xt) == len(TEST[0])
    assert not (x == 7).all(axis=(1, 2, 3)).any()  # no planted image among them
    assert np.bincount(y.ravel(), minlength=10).tolist() == [3] * len(CLASSES)


def test_a_batch_outside_the_archives_folder_is_never_read(tmp_path):
    marker = tmp_path / "ran"

    def plant(tar):
        _add(tar, "zzz/cifar-10-batches-py/data_batch_1", payload_batch("system", marker))
        _add(tar, "data_batch_1", payload_batch("exec", marker))

    clean = write_pickle_tar(tmp_path / "clean.tar.gz", TRAIN, TEST, tmp_path / "w")
    assert len(cifar10.load_data(_with_extra_members(clean, tmp_path / "mine.tar.gz", plant))[0][0]) == 30
    assert not marker.exists()


def _tar_with(path, members):
    """An image tarball: ``members`` is {name below cifar10/: bytes}, next to one real image per split."""
    from _data import _png

    x, y = class_images(1, size=32)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in {"train/airplane/0.png": _png(x[0]), "test/airplane/0.png": _png(x[0]), **members}.items():
            info = tarfile.TarInfo(f"cifar10/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _png_claiming(width, height) -> bytes:
    """A PNG whose header claims width x height pixels (and holds almost nothing)."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data, message", [
    (b"not an image at all", r"cat/1\.png\) is not a readable image \(UnidentifiedImageError"),
    (_png_claiming(40000, 40000), r"cat/1\.png\) is not a readable image \(DecompressionBombError"),
])
def test_a_bad_image_in_a_tarball_is_named(tmp_path, data, message):
    source = _tar_with(tmp_path / "d.tar.gz", {"train/cat/1.png": data})
    with pytest.raises(DatasetError, match=message):
        cifar10.load_data(path=source)


def test_an_image_of_another_size_is_named_with_both_sizes(tmp_path):
    from _data import _png

    big = class_images(1, size=40)[0][0]
    source = _tar_with(tmp_path / "d.tar.gz", {"train/cat/1.png": _png(big)})
    with pytest.raises(DatasetError, match=r"cat/1\.png\) is a 40x40 image; the data set's images are 32x32"):
        cifar10.load_data(path=source)


def test_an_empty_split_names_where_it_looked(tmp_path):
    root = tmp_path / "tree"
    for split in ("train", "test"):
        (root / split / "cat").mkdir(parents=True)
    with pytest.raises(DatasetError, match=f"no images found in {root} for the train split"):
        cifar10.load_data(path=root)
