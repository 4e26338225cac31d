"""Atomic file writes: write to a temporary file, then rename over the target.

A rename within one directory is atomic on POSIX and Windows, so a reader (or
a crash) sees either the old complete file or the new complete file, never a
half-written one.

The file ends up with the permissions a plain ``open(path, "w")`` would give
it: a new file gets 0o666 less the umask (0o644 under the usual umask 022;
``tempfile.mkstemp`` would make it 0o600, private to its owner), and a file
that is replaced keeps its mode.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import stat


def _create_temp(directory: str, name: str) -> str:
    """A new empty file ``.tmp-<random>-<name>`` in ``directory``, created with mode 0o666 & ~umask.

    ``O_EXCL`` makes the creation fail rather than follow a link or reuse a
    file someone else put there, as ``mkstemp`` does; the kernel applies the umask.
    """
    while True:
        tmp = os.path.join(directory, f".tmp-{secrets.token_hex(6)}-{name}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it into place on success."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = _create_temp(directory, os.path.basename(path))
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if os.path.isfile(path):  # after writing: the old mode may not allow writes
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
