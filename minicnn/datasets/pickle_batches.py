"""Reading the official CIFAR-10 "python version" batches without trusting them.

The official files (``data_batch_1`` ... ``data_batch_5``, ``test_batch``) are
pickles: Python 2 dicts holding ``data`` (a uint8 NumPy array, one 3072-byte
row per image), ``labels`` (a list of ints), ``batch_label`` and ``filenames``
(strings). A pickle is not a data format but a small program: its ``GLOBAL``
and ``REDUCE`` instructions import any function by name and call it, so
``pickle.loads`` on a file from the internet (or a shared folder) runs whatever
the file asks for, ``os.system`` included.

So this module unpickles with an allow-list, the idea of the Python docs'
"Restricting Globals" and of PyTorch's ``weights_only`` unpickler. Dicts,
lists, bytes, strings and ints need no global at all; the only globals a batch
holds are the three that rebuild a NumPy array (``_reconstruct``, ``ndarray``,
``dtype``), plus ``_codecs.encode`` in pickles written by Python 3 at protocol
2 and ``_frombuffer`` in protocol-5 pickles. Even those are not NumPy's own
functions here: each name maps to a stand-in that only records what the pickle
says (shape, element type, raw bytes). After loading, the recorded parts are
checked (a plain numeric type, as many bytes as the shape needs) and turned
into an array with ``np.frombuffer``. Any other global is refused with a
:class:`DatasetError` that names the file and the global, before anything from
the file has run.

The pure-Python unpickler is used on purpose: the C one keeps its memo in an
array sized by the largest index a pickle mentions, so a ten-byte file could
make it allocate gigabytes.
"""
from __future__ import annotations

import io
import math
import pickle

import numpy as np

from .download import DatasetError

IMAGE_BYTES = 32 * 32 * 3
# Plain numeric element types an array in a batch may have (NumPy's type codes).
_NUMERIC_CODES = {"b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"}


def read_batch(data: bytes, where: str, num_classes: int):
    """``(images, labels)`` from one pickled batch: uint8 (N, 32, 32, 3) and (N, 1).

    ``where`` names the file in every error (a path, or an archive and member).
    """
    batch = _safe_unpickle(data, where)
    if not isinstance(batch, dict):
        raise DatasetError(f"{where} is not a CIFAR-10 batch: it holds a {type(batch).__name__}, not a dict")
    rows = _entry(batch, "data", where)
    labels = _entry(batch, "labels", where)
    if not isinstance(rows, _ArrayParts):
        raise DatasetError(f"{where}: 'data' is a {type(rows).__name__}, not a NumPy array")
    rows = rows.to_array(where)
    if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != IMAGE_BYTES:
        raise DatasetError(f"{where}: 'data' should be uint8 rows of {IMAGE_BYTES} bytes (N, {IMAGE_BYTES}), "
                           f"got {rows.dtype} of shape {rows.shape}")
    if not isinstance(labels, list) or not all(type(v) is int and 0 <= v < num_classes for v in labels):
        raise DatasetError(f"{where}: 'labels' should be a list of ints in [0, {num_classes})")
    if len(labels) != len(rows):
        raise DatasetError(f"{where}: {len(rows)} images but {len(labels)} labels")
    images = rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # rows are RRR..GGG..BBB
    return images, np.asarray(labels, dtype=np.uint8).reshape(-1, 1)


def _entry(batch: dict, key: str, where: str):
    """``batch[key]``: Python 2 files have byte-string keys, files written by Python 3 may have str keys."""
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise DatasetError(f"{where} is not a CIFAR-10 batch: it has no '{key}' entry")


def _safe_unpickle(data: bytes, where: str):
    try:
        return _BatchUnpickler(io.BytesIO(data), where).load()
    except DatasetError:
        raise
    except _NotABatch as exc:
        raise DatasetError(f"Refused to load {where}: {exc}, which a CIFAR-10 batch never holds. The file may be "
                           "malicious; nothing from it was run.") from None
    except Exception as exc:  # noqa: BLE001 - any failure of the parser means a damaged file; nothing of it ran
        raise DatasetError(f"{where} is not a readable CIFAR-10 batch ({type(exc).__name__}: {exc}). The file "
                           "may be truncated or corrupt; delete it (or point MINICNN_DATA elsewhere).") from None


class _NotABatch(Exception):
    """A named global used in a way the batch format never uses it."""


class _BatchUnpickler(pickle._Unpickler):  # noqa: SLF001 - the pure-Python parser, see the module docstring
    def __init__(self, file, where: str):
        super().__init__(file, encoding="bytes")  # Python 2's str holds bytes (the images), so keep bytes
        self.where = where

    def find_class(self, module, name):
        stand_in = _STAND_INS.get((module, name))
        if stand_in is None:
            raise DatasetError(
                f"Refused to load {self.where}: it asks for the Python global {module + '.' + name!r:.100}, which a "
                "CIFAR-10 batch never contains (only dicts, lists, bytes, strings, ints and NumPy arrays). "
                "The file may be malicious; nothing from it was run."
            )
        return stand_in

    def persistent_load(self, pid):
        raise DatasetError(f"Refused to load {self.where}: it holds a persistent reference, which a CIFAR-10 "
                           "batch never contains. Nothing from it was run.")


class _StandIn:
    """What ``find_class`` hands the pickle instead of a real function: callable, but not changeable.

    A pickle may apply its ``BUILD`` instruction to anything it holds; refusing
    it here means a file cannot set attributes on these shared objects.
    """

    __slots__ = ("_build",)

    def __init__(self, build):
        self._build = build

    def __call__(self, *args):
        return self._build(*args)

    def __setstate__(self, state):
        raise _NotABatch("a BUILD instruction applied to a constructor")


class _Parts:
    """Base of the recorders: ``BUILD`` (``__setstate__``) may fill one in once."""

    __slots__ = ()

    def __setstate__(self, state):
        if not isinstance(state, tuple) or self._filled():
            raise _NotABatch(f"an unexpected state {state!r:.80} for {self._what}")
        self._fill(state)


class _DtypeParts(_Parts):
    """``numpy.dtype(code, align, copy)`` recorded; the byte order arrives in its state."""

    __slots__ = ("code", "order")
    _what = "a dtype"

    def __init__(self, code, align=False, copy=True):
        self.code = code.decode("ascii") if isinstance(code, bytes) else code
        self.order = None
        if self.code not in _NUMERIC_CODES:
            raise _NotABatch(f"an array of element type {self.code!r} (not a plain number type)")

    def _filled(self):
        return self.order is not None

    def _fill(self, state):
        order = state[1].decode("ascii") if len(state) > 1 and isinstance(state[1], bytes) else state[1]
        if order not in ("<", ">", "|", "="):
            raise _NotABatch(f"an array with byte order {order!r:.20}")
        self.order = order

    def to_dtype(self) -> np.dtype:
        return np.dtype(self.order + self.code if self.order in ("<", ">") else self.code)


class _ArrayParts(_Parts):
    """An ndarray as a pickle describes it: shape, element type, Fortran order, raw bytes."""

    __slots__ = ("shape", "dtype", "fortran", "raw")
    _what = "an array"

    def __init__(self):
        self.raw = None

    def _filled(self):
        return self.raw is not None

    def _fill(self, state):  # ndarray.__setstate__'s layout: ([version,] shape, dtype, is_fortran, raw)
        shape, dtype, fortran, raw = state[-4:]
        self._set(raw, dtype, shape, fortran)

    def _set(self, raw, dtype, shape, fortran):
        if not isinstance(raw, (bytes, bytearray)) or not isinstance(dtype, _DtypeParts):
            raise _NotABatch("an array without raw bytes or a plain element type")
        if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
            raise _NotABatch(f"an array of shape {shape!r:.80}")
        self.shape, self.dtype, self.fortran, self.raw = shape, dtype, bool(fortran), bytes(raw)

    def to_array(self, where: str) -> np.ndarray:
        if self.raw is None or self.dtype.order is None:
            raise DatasetError(f"{where}: an array in the file is incomplete")
        dtype = self.dtype.to_dtype()
        if len(self.raw) != math.prod(self.shape) * dtype.itemsize:
            raise DatasetError(f"{where}: an array of shape {self.shape} and type {dtype} needs "
                               f"{math.prod(self.shape) * dtype.itemsize} bytes, the file holds {len(self.raw)}")
        return np.frombuffer(self.raw, dtype=dtype).reshape(self.shape, order="F" if self.fortran else "C")


def _marker_only(*args):
    raise _NotABatch("numpy.ndarray called directly (it only names the type for _reconstruct)")


_NDARRAY = _StandIn(_marker_only)


def _reconstruct(cls, shape, typecode):
    """``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')``: an empty array that BUILD fills."""
    if cls is not _NDARRAY:
        raise _NotABatch("numpy's _reconstruct asked for something other than an ndarray")
    return _ArrayParts()


def _frombuffer(buffer, dtype, shape, order):
    """Protocol 5's ``numpy._core.numeric._frombuffer(buffer, dtype, shape, order)``."""
    parts = _ArrayParts()
    parts._set(buffer, dtype, shape, order == "F")
    if dtype.order is None:  # protocol 5 fills the dtype's state before the array is made
        raise _NotABatch("an array whose element type has no byte order")
    return parts


def _latin1_bytes(text, encoding):
    """``_codecs.encode(text, 'latin1')``: how Python 3 writes bytes into a protocol-2 pickle."""
    if not isinstance(text, str) or encoding != "latin1":
        raise _NotABatch("_codecs.encode used other than to turn a str into latin-1 bytes")
    return text.encode("latin1")


_STAND_INS = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _StandIn(_DtypeParts),
    ("_codecs", "encode"): _StandIn(_latin1_bytes),
    **{(module, "_reconstruct"): _StandIn(_reconstruct)
       for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "_frombuffer"): _StandIn(_frombuffer) for module in ("numpy.core.numeric", "numpy._core.numeric")},
}
