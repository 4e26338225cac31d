"""summary()'s options beyond Keras' table itself (the table is compared with
Keras character by character in parity/test_summary.py): clear errors for a
table that cannot fit and for a layer_range that matches no layer."""
import pytest

import minicnn as mc


def small_model():
    return mc.Sequential([mc.Input((3,)), mc.layers.Dense(4, name="first"), mc.layers.Dense(2, name="last")])


def test_a_line_too_short_for_the_columns_is_a_clear_error():
    with pytest.raises(ValueError, match="line_length=10 is too narrow"):
        small_model().summary(line_length=10)


def test_layer_range_prints_a_slice_and_names_what_did_not_match():
    lines = []
    small_model().summary(layer_range=("last", "last"), print_fn=lines.append)
    assert any("last (Dense)" in line for line in lines) and not any("first (Dense)" in line for line in lines)
    with pytest.raises(ValueError, match=r"no layer matches 'missing'.*\['first', 'last'\]"):
        small_model().summary(layer_range=("missing", "last"))
