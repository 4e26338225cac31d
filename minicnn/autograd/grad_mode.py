"""Whether operations are being recorded for backward, and the ``no_grad`` switch.

Recording is on by default: every Function called on a Tensor that needs a
gradient links its outputs to itself (``tensor.py``). Inside ``no_grad()``
nothing is linked, so inference keeps no graph and no saved arrays. The
setting is per thread, so a data-loading thread cannot switch it off for the
training loop.
"""
from __future__ import annotations

import contextlib
import threading

_config = threading.local()


def grad_enabled() -> bool:
    """Whether operations are being recorded for backward."""
    return getattr(_config, "enabled", True)


@contextlib.contextmanager
def no_grad():
    """Context in which nothing is recorded: inference uses less memory and time."""
    old = grad_enabled()
    _config.enabled = False
    try:
        yield
    finally:
        _config.enabled = old
