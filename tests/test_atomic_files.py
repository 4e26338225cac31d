"""Atomic writes give a file the permissions a plain open() would: 0o666 less the umask for a new file
(mkstemp's private 0o600 before), the old mode for a replaced one."""
from __future__ import annotations

import contextlib
import os
import stat

import pytest

import minicnn as mc
from minicnn.atomic_files import atomic_path

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes and the umask are POSIX")


@contextlib.contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def write(path, text):
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_umask_like_open(tmp_path, mask, expected):
    with umask(mask):
        write(tmp_path / "atomic.txt", "x")
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
        model = mc.Sequential([mc.Input((3,)), mc.layers.Dense(2)])
        model.save_weights(tmp_path / "model.weights.h5")
    assert mode(tmp_path / "plain.txt") == expected
    assert mode(tmp_path / "atomic.txt") == expected
    assert mode(tmp_path / "model.weights.h5") == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atomic.txt", "model.weights.h5", "plain.txt"]


@pytest.mark.parametrize("old_mode", [0o640, 0o444])
def test_a_replaced_file_keeps_its_mode(tmp_path, old_mode):
    path = tmp_path / "kept.txt"
    path.write_text("old")
    path.chmod(old_mode)
    with umask(0o022):
        write(path, "new")
    assert path.read_text() == "new" and mode(path) == old_mode


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "kept.txt"
    write(path, "old")
    with pytest.raises(RuntimeError, match="halfway"):
        with atomic_path(path) as tmp:
            with open(tmp, "w") as f:
                f.write("new, but")
            raise RuntimeError("halfway")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["kept.txt"]
