"""Checking an array read from a file before it may become a weight.

A restore is all-or-nothing: every stored array is read and checked first, and
only when all of them pass is anything assigned, so a bad file leaves the model
exactly as it was. One array passes when it has the weight's shape, a real
numeric element type (integers or floats; not strings, records or complex
numbers, whose imaginary part would be dropped), and finite values in the
weight's own float type (NaN and infinity would poison every later step, and a
float64 value too large for float32 would become infinity). ``allow_nonfinite``
lets NaN and infinity through, for the rare user who means to load them.
"""
from __future__ import annotations

import numpy as np


class WeightsFileError(ValueError):
    """A weights or checkpoint file that cannot be loaded into the model as it is.

    The message names the file and the weight. A ``ValueError``, so code that
    caught ``ValueError`` from ``load_weights`` keeps working.
    """


def check_layout(dtype, shape, weight, where: str) -> None:
    """Raise unless an array of ``dtype`` and ``shape`` may become ``weight``.

    Needs no data, so a file's arrays can be checked before they are read (a
    crafted file may claim a shape far too large to read).
    """
    dtype, target = np.dtype(dtype), np.dtype(weight.dtype)
    label = f"{where}: weight '{weight.name}'"
    if dtype.kind == "c":
        raise WeightsFileError(f"{label} holds complex numbers ({dtype}); a weight is real ({target}). "
                               "Nothing was changed.")
    if dtype.kind not in "biuf":
        raise WeightsFileError(f"{label} holds {dtype} data, not numbers; expected {target}. Nothing was changed.")
    if tuple(shape) != tuple(weight.shape):
        raise WeightsFileError(f"{label} has shape {tuple(weight.shape)} but the file holds shape {tuple(shape)}. "
                               "Nothing was changed.")


def checked_value(value, weight, where: str, allow_nonfinite: bool = False) -> np.ndarray:
    """``value`` cast to ``weight``'s dtype, or a :class:`WeightsFileError`.

    ``where`` names the file (and the entry in it) for the message; ``weight``
    is the Variable the value is meant for.
    """
    value = np.asarray(value)
    check_layout(value.dtype, value.shape, weight, where)
    target = np.dtype(weight.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        cast = value.astype(target)
    if not allow_nonfinite:
        bad = int(np.count_nonzero(~np.isfinite(cast)))
        if bad:
            why = ("NaN or infinite values" if value.dtype.kind == "f" and not np.isfinite(value).all()
                   else f"values too large for {target}")
            raise WeightsFileError(f"{where}: weight '{weight.name}' holds {why} ({bad} of {value.size}). "
                                   "Nothing was changed; pass allow_nonfinite=True to load them anyway.")
    return cast
