"""Shared pytest fixtures: a fixed seed for every test, float64 and an isolated data set search on request."""
import pytest

from minicnn import backend, utils


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state (weights, dropout, shuffling)."""
    utils.set_random_seed(1234)


@pytest.fixture
def float64():
    """Switch minicnn to float64 for the test (gradient checks), then switch back."""
    old = backend.floatx()
    backend.set_floatx("float64")
    try:
        yield
    finally:
        backend.set_floatx(old)


@pytest.fixture
def isolated_datasets(tmp_path, monkeypatch):
    """No real data, cache or home directory leaks into a data set test: the cache is in tmp_path, home
    is an empty tmp_path/home, MINICNN_DATA is unset and the repository's copy is missing."""
    from minicnn.datasets import cifar10  # noqa: PLC0415

    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    monkeypatch.setattr(cifar10, "REPO_COPY", tmp_path / "no-repo-copy.tar.gz")
