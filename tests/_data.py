"""Small CIFAR-10-shaped archives that tests write (every supported format)."""
from __future__ import annotations

import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def class_images(n_per_class, seed=0, size=32):
    """uint8 images whose colour depends on the class (so a CNN can learn them), and labels."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in range(len(CLASSES)):
        base = np.array([label * 25, 255 - label * 25, (label * 70) % 256], dtype=np.float64)
        noise = rng.normal(0, 20, (n_per_class, size, size, 3))
        images.append(np.clip(base + noise, 0, 255).astype(np.uint8))
        labels += [label] * n_per_class
    return np.concatenate(images), np.array(labels, dtype=np.uint8)


def _png(image) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")  # lossless, so pixels can be compared exactly
    return buf.getvalue()


def _jpg(image) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write_image_tar(path, train, test, fmt="png"):
    """``cifar10/{train,test}/<class>/NNNN.<fmt>`` in a .tar.gz, like the shared JPEG tarball."""
    encode = _png if fmt == "png" else _jpg
    with tarfile.open(path, "w:gz") as tar:
        for split, (x, y) in (("train", train), ("test", test)):
            for i, (image, label) in enumerate(zip(x, y)):
                data = encode(image)
                info = tarfile.TarInfo(f"cifar10/{split}/{CLASSES[label]}/{i:04d}.{fmt}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return Path(path)


def write_image_tree(root, train, test, fmt="png"):
    """The same layout as plain folders."""
    encode = _png if fmt == "png" else _jpg
    for split, (x, y) in (("train", train), ("test", test)):
        for i, (image, label) in enumerate(zip(x, y)):
            f = Path(root) / split / CLASSES[label] / f"{i:04d}.{fmt}"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(encode(image))
    return Path(root)


def _batch(x, y) -> bytes:
    data = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # the official row layout: RRR..GGG..BBB
    return pickle.dumps({b"data": data, b"labels": [int(v) for v in y], b"batch_label": b"x"})


def python2_batch(x, y) -> bytes:
    """One batch as Python 2's cPickle wrote the official files: protocol 2, byte-string keys and
    values, the array rebuilt by ``numpy.core.multiarray._reconstruct`` (whose state carries the raw
    bytes). Spelled out opcode by opcode: Python 3 no longer writes this form, and the official
    archive cannot be downloaded here."""
    rows = x.transpose(0, 3, 1, 2).reshape(len(x), -1)

    def text(b):  # SHORT_BINSTRING / BINSTRING
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b

    def small(n):  # BININT1 / BININT2
        return b"K" + bytes([n]) if n < 256 else b"M" + struct.pack("<H", n)

    dtype = (b"cnumpy\ndtype\n" + text(b"u1") + small(0) + small(1) + b"\x87R"  # dtype('u1', 0, 1)
             + b"(" + small(3) + text(b"|") + b"NNN" + b"J\xff\xff\xff\xff" * 2 + small(0) + b"tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + small(0) + b"\x85" + text(b"b")
             + b"\x87R"  # _reconstruct(ndarray, (0,), 'b'), then BUILD with (1, shape, dtype, False, raw)
             + b"(" + small(1) + small(len(rows)) + small(rows.shape[1]) + b"\x86" + dtype + b"\x89"
             + text(rows.tobytes()) + b"tb")
    labels = b"](" + b"".join(small(int(v)) for v in y) + b"e"
    return (b"\x80\x02}(" + text(b"data") + array + text(b"labels") + labels
            + text(b"batch_label") + text(b"training batch 1 of 5") + b"u.")


def write_pickle_dir(folder, train, test):
    """``cifar-10-batches-py``: data_batch_1..5 and test_batch, pickled dicts."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x, y = train
    for i, part in enumerate(np.array_split(np.arange(len(x)), 5), start=1):
        (folder / f"data_batch_{i}").write_bytes(_batch(x[part], y[part]))
    (folder / "test_batch").write_bytes(_batch(*test))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [c.encode() for c in CLASSES]}))
    return folder


def write_pickle_tar(path, train, test, workdir):
    """``cifar-10-python.tar.gz``, the official archive's layout."""
    folder = write_pickle_dir(Path(workdir) / "cifar-10-batches-py", train, test)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return Path(path)
