"""The logs ``fit``/``evaluate`` hand to callbacks and return: {name: value}.

``LazyLogs`` reads a running mean from the device only when someone asks for
it; ``in_keras_order`` turns logs into the list ``evaluate`` returns, in the
order Keras uses.
"""
from __future__ import annotations

from .. import backend
from ..autograd import Tensor


def as_floats(logs) -> dict:
    """A custom step's logs as plain numbers (values may be Tensors or device scalars)."""
    return {k: float(backend.to_numpy(v.data if isinstance(v, Tensor) else v)) for k, v in logs.items()}


def in_keras_order(logs, known) -> list | float:
    """The values of ``logs`` as Keras lists them: the names ``known`` first, in that
    order, then every other entry sorted by name; one value alone is that value."""
    values = [logs[k] for k in known if k in logs] + [logs[k] for k in sorted(logs) if k not in known]
    return values[0] if len(values) == 1 else values


class LazyLogs(dict):
    """Epoch logs whose values are read from the device only when asked for.

    On a GPU, turning a running loss into a Python float forces a wait for the
    device; callbacks that only need the values now and then stay cheap.
    """

    def __init__(self, metrics, batch_loss=None):
        super().__init__()
        self._sources = {m.name: m for m in metrics}
        self.batch_loss = batch_loss

    def resolve(self) -> dict:
        return {name: src.result() for name, src in self._sources.items()}

    def __getitem__(self, key):
        return self._sources[key].result()

    def get(self, key, default=None):
        return self[key] if key in self._sources else default

    def __contains__(self, key):
        return key in self._sources

    def keys(self):
        return self._sources.keys()

    def items(self):
        return self.resolve().items()

    def __iter__(self):
        return iter(self._sources)

    def __len__(self):
        return len(self._sources)
