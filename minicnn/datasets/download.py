"""Downloading an archive with checksum verification (standard library only)."""
from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

from ..atomic_files import atomic_path


class DatasetError(RuntimeError):
    """The data set could not be found or read (corrupt, truncated, wrong layout)."""


def md5_of(path) -> str:
    h = hashlib.md5()  # noqa: S324 - the published checksum is an MD5
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, target: Path, md5: str | None = None, timeout: float = 60.0) -> Path:
    """Fetch ``url`` into ``target`` (atomically); verify ``md5`` before keeping it."""
    target = Path(target)
    if target.exists() and (md5 is None or md5_of(target) == md5):
        return target
    try:
        with atomic_path(target) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:  # noqa: S310
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
            if md5 is not None and md5_of(tmp) != md5:
                raise DatasetError(f"Downloaded {url} but its MD5 checksum does not match {md5}; "
                                   "the file was discarded.")
    except OSError as exc:
        raise DatasetError(
            f"No local copy of the data set was found and downloading {url} failed ({exc}). "
            "Set MINICNN_DATA to a local copy or pass path=."
        ) from None
    return target
