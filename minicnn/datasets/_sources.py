"""Finding, reading and caching image-classification data sets.

Readers return ``(x_train, y_train), (x_test, y_test)`` (uint8 NHWC images,
uint8 labels of shape (N, 1)). ``load_cached`` puts an ``.npz`` next to the
user's cache keyed by the source's path, size and modification time, so a
changed source is decoded again and an interrupted write is never read.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from ..atomic_files import atomic_path
from .download import DatasetError, download


def cache_root(cache_dir=None) -> Path:
    root = cache_dir or os.environ.get("MINICNN_CACHE") or Path.home() / ".cache" / "minicnn"
    return Path(root)


def find_source(path, repo_copy, url, md5, cache_dir, archive_name, folder_name) -> Path:
    """The first existing source in the documented search order (see cifar10.py)."""
    candidates = []
    if path is not None:
        p = Path(path).expanduser()
        if not p.exists():
            raise DatasetError(f"Data set path {p} does not exist")
        return p
    if os.environ.get("MINICNN_DATA"):
        p = Path(os.environ["MINICNN_DATA"]).expanduser()
        if not p.exists():
            raise DatasetError(f"MINICNN_DATA={p} does not exist")
        return p
    candidates.append(Path(repo_copy))
    keras_cache = Path.home() / ".keras" / "datasets"
    candidates += [keras_cache / folder_name, keras_cache / archive_name]
    for c in candidates:
        if c.exists():
            return c
    return download(url, cache_root(cache_dir) / archive_name, md5)


def _fingerprint(source: Path) -> str:
    st = source.stat()
    key = f"{source.resolve()}|{st.st_size}|{int(st.st_mtime)}|v1"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def load_cached(source: Path, class_names, cache_dir=None):
    source = Path(source)
    cache = cache_root(cache_dir) / f"{source.name}-{_fingerprint(source)}.npz"
    if cache.exists():
        try:
            with np.load(cache) as z:
                return (z["x_train"], z["y_train"]), (z["x_test"], z["y_test"])
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
            cache.unlink(missing_ok=True)
    (x_train, y_train), (x_test, y_test) = read_source(source, class_names)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return (x_train, y_train), (x_test, y_test)


def read_source(source: Path, class_names):
    """Decode any supported layout into arrays."""
    try:
        if source.is_dir():
            if (source / "data_batch_1").exists():
                return _read_pickle_dir(source)
            return _read_image_tree(_tree_root(source), class_names)
        with tarfile.open(source, "r:*") as tar:
            members = tar.getmembers()
            names = [m.name for m in members]
            if any(n.endswith("data_batch_1") for n in names):
                return _read_pickle_tar(tar, members)
            return _read_image_tar(tar, members, class_names)
    except (tarfile.TarError, EOFError, OSError, pickle.UnpicklingError, KeyError, ValueError) as exc:
        raise DatasetError(
            f"Could not read the data set at {source}: {type(exc).__name__}: {exc}. The file may be "
            "truncated or corrupt; delete it (or point MINICNN_DATA elsewhere) and try again."
        ) from None


def _tree_root(folder: Path) -> Path:
    for candidate in (folder, folder / "cifar10"):
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    raise DatasetError(f"{folder} has neither data_batch_* files nor train/ and test/ class folders")


def _decode(data: bytes) -> np.ndarray:
    from PIL import Image  # noqa: PLC0415

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _stack(images, labels, split):
    if not images:
        raise DatasetError(f"no images found for the {split} split")
    return np.stack(images), np.asarray(labels, dtype=np.uint8).reshape(-1, 1)


def _read_image_tar(tar, members, class_names):
    found = {"train": ([], []), "test": ([], [])}
    for m in sorted((m for m in members if m.isfile()), key=lambda m: m.name):
        parts = Path(m.name).parts
        if len(parts) < 3 or parts[-3] not in found or parts[-2] not in class_names:
            continue
        images, labels = found[parts[-3]]
        images.append(_decode(tar.extractfile(m).read()))
        labels.append(class_names.index(parts[-2]))
    return _stack(*found["train"], "train"), _stack(*found["test"], "test")


def _read_image_tree(root: Path, class_names):
    out = []
    for split in ("train", "test"):
        images, labels = [], []
        for label, name in enumerate(class_names):
            for f in sorted((root / split / name).glob("*")):
                if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"):
                    images.append(_decode(f.read_bytes()))
                    labels.append(label)
        out.append(_stack(images, labels, split))
    return tuple(out)


def _batch_to_arrays(batch):
    data = np.asarray(batch[b"data"] if b"data" in batch else batch["data"], dtype=np.uint8)
    labels = batch.get(b"labels", batch.get("labels"))
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(labels, dtype=np.uint8).reshape(-1, 1)


def _unpickle(data: bytes):
    return pickle.loads(data, encoding="bytes")  # noqa: S301 - the official format is pickle


def _read_pickle_tar(tar, members):
    by_name = {Path(m.name).name: m for m in members if m.isfile()}
    train = [_batch_to_arrays(_unpickle(tar.extractfile(by_name[f"data_batch_{i}"]).read())) for i in range(1, 6)]
    test = _batch_to_arrays(_unpickle(tar.extractfile(by_name["test_batch"]).read()))
    return (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])), test


def _read_pickle_dir(folder: Path):
    train = [_batch_to_arrays(_unpickle((folder / f"data_batch_{i}").read_bytes())) for i in range(1, 6)]
    test = _batch_to_arrays(_unpickle((folder / "test_batch").read_bytes()))
    return (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])), test
