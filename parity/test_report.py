"""The report says what each row compared: "—" where a kind of value was not compared, never 0."""
from __future__ import annotations

import numpy as np
import pytest

from .__main__ import _cells, _result
from .harness import Stats


def test_a_row_that_compares_only_shapes_shows_dashes():
    stats = Stats("shapes only")
    stats.cases = 1
    stats.equal("output shape", (2, 3), (2, 3))
    assert _cells(stats) == ("1", "exact", "—", "—")


def test_a_row_shows_each_kind_it_compared_and_its_worst_error():
    stats = Stats("trajectory")
    stats.compare("loss", np.array([1.0, 2.0]), np.array([1.0, 2.0]), "float64")
    stats.compare("weight after step 1", np.array([1.0 + 1e-12]), np.array([1.0]), "float64", "steps")
    stats.note("drift ratio 0.9")
    _, compares, fwd, grad = _cells(stats)
    assert (compares, fwd) == ("fwd, steps", "0.00e+00")
    assert float(grad) == pytest.approx(1e-12, rel=1e-3)
    assert _result(stats, None) == "pass (drift ratio 0.9)"


def test_a_stated_bound_replaces_the_table_tolerance():
    stats = Stats("features")
    stats.compare("features", np.array([1.00002]), np.array([1.0]), "float32", tol=1e-4)
    with pytest.raises(AssertionError, match=r"relative error 2e-05 > 1e-05 \(float32\)"):
        stats.compare("features", np.array([1.00002]), np.array([1.0]), "float32")
