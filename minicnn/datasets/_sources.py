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
import tarfile
from pathlib import Path

import numpy as np

from ..atomic_files import atomic_path
from .download import DatasetError, download, md5_of
from .pickle_batches import read_batch


PICKLE_FOLDER = "cifar-10-batches-py"  # the official archive's one folder
IMAGE_FOLDER = "cifar10"  # the JPEG tarball's one folder
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


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


def load_cached(source: Path, class_names, cache_dir=None, md5=None):
    """The decoded arrays of ``source``, from the cache when it has them.

    With ``md5``, a source that must be decoded is first checked against that
    checksum (a file named like an official archive must be that archive).
    """
    source = Path(source)
    cache = cache_root(cache_dir) / f"{source.name}-{_fingerprint(source)}.npz"
    if cache.exists():
        try:
            with np.load(cache) as z:
                return (z["x_train"], z["y_train"]), (z["x_test"], z["y_test"])
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
            cache.unlink(missing_ok=True)
    if md5 is not None:
        _verify_md5(source, md5)
    (x_train, y_train), (x_test, y_test) = read_source(source, class_names)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return (x_train, y_train), (x_test, y_test)


def _verify_md5(source: Path, md5: str) -> None:
    actual = md5_of(source)
    if actual != md5:
        raise DatasetError(
            f"{source} is named like the official archive but its MD5 checksum is {actual}, not the published "
            f"{md5}: it is truncated, corrupt or a different file. Delete it (or point MINICNN_DATA "
            "elsewhere); to load a file of your own under this name anyway, pass md5=None."
        )


def read_source(source: Path, class_names):
    """Decode any supported layout into arrays."""
    try:
        if source.is_dir():
            if (source / "data_batch_1").exists():
                return _read_pickle_dir(source, len(class_names))
            return _read_image_tree(_tree_root(source), class_names)
        with tarfile.open(source, "r:*") as tar:
            batches = _archive_files(tar, PICKLE_FOLDER)
            if "data_batch_1" in batches:
                return _read_pickle_tar(source, tar, batches, len(class_names))
            return _read_image_tar(source, tar, _archive_files(tar, IMAGE_FOLDER), class_names)
    except (tarfile.TarError, EOFError, OSError, KeyError, ValueError) as exc:
        raise DatasetError(
            f"Could not read the data set at {source}: {type(exc).__name__}: {exc}. The file may be "
            "truncated or corrupt; delete it (or point MINICNN_DATA elsewhere) and try again."
        ) from None


def _archive_files(tar, folder: str) -> dict:
    """``{path below folder/: member}`` for the regular files under ``folder/`` in ``tar``.

    Only these are ever read. Everything else in the archive is ignored rather
    than refused, so a README or macOS ``__MACOSX/`` metadata does no harm, while
    an image planted outside the data set's folder (``evil/train/cat/x.png``,
    ``../train/cat/x.png``) never becomes a training example. Hidden files,
    links and devices are ignored too.
    """
    files = {}
    for m in tar.getmembers():
        parts = Path(m.name).parts
        if m.isfile() and len(parts) > 1 and parts[0] == folder and not any(p.startswith(".") for p in parts[1:]):
            files["/".join(parts[1:])] = m
    return files


def _tree_root(folder: Path) -> Path:
    for candidate in (folder, folder / "cifar10"):
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    raise DatasetError(f"{folder} has neither data_batch_* files nor train/ and test/ class folders")


def _decode(data: bytes, where: str, size=None) -> np.ndarray:
    """One image file's pixels (RGB, uint8). A file Pillow cannot read (or
    refuses: a "decompression bomb" claiming billions of pixels), or one of
    another ``size`` (width, height) than the data set's, is a DatasetError
    naming it."""
    from PIL import Image  # noqa: PLC0415

    try:
        with Image.open(io.BytesIO(data)) as im:
            if size is not None and im.size != size:
                raise DatasetError(f"{where} is a {im.size[0]}x{im.size[1]} image; the data set's images are "
                                   f"{size[0]}x{size[1]}")
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"{where} is not a readable image ({type(exc).__name__}: {exc})") from None


def _stack(images, labels, split, where):
    if not images:
        raise DatasetError(f"no images found in {where} for the {split} split: expected image files in "
                           f"{split}/<class name>/ folders (in an archive: {IMAGE_FOLDER}/{split}/<class name>/)")
    return np.stack(images), np.asarray(labels, dtype=np.uint8).reshape(-1, 1)


def _append_image(images: list, data: bytes, where: str) -> None:
    """Append one more image, which must have the size of the first one."""
    size = None if not images else (images[0].shape[1], images[0].shape[0])
    images.append(_decode(data, where, size))


def _read_image_tar(source, tar, files, class_names):
    """Images at ``cifar10/<split>/<class>/<file>`` exactly; ``files`` comes from ``_archive_files``."""
    found = {"train": ([], []), "test": ([], [])}
    for path in sorted(files):
        parts = path.split("/")
        if len(parts) != 3 or not parts[2].lower().endswith(IMAGE_SUFFIXES):
            continue
        split, name, _ = parts
        if split not in found or name not in class_names:
            continue
        images, labels = found[split]
        _append_image(images, tar.extractfile(files[path]).read(), f"{source} (member {files[path].name})")
        labels.append(class_names.index(name))
    return _stack(*found["train"], "train", source), _stack(*found["test"], "test", source)


def _read_image_tree(root: Path, class_names):
    out = []
    for split in ("train", "test"):
        images, labels = [], []
        for label, name in enumerate(class_names):
            for f in sorted((root / split / name).glob("*")):
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    _append_image(images, f.read_bytes(), str(f))
                    labels.append(label)
        out.append(_stack(images, labels, split, root))
    return tuple(out)


def _read_pickle_tar(source: Path, tar, batches, num_classes):
    def batch(name):
        return read_batch(tar.extractfile(batches[name]).read(), f"{source} (member {batches[name].name})",
                          num_classes)

    return _join_batches(batch)


def _read_pickle_dir(folder: Path, num_classes):
    return _join_batches(lambda name: read_batch((folder / name).read_bytes(), str(folder / name), num_classes))


def _join_batches(batch):
    """The five training batches concatenated, and the test batch, from ``batch(name)``."""
    train = [batch(f"data_batch_{i}") for i in range(1, 6)]
    test = batch("test_batch")
    return (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])), test
