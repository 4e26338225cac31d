"""One random-number generator for the whole library (weights, dropout, shuffling).

``set_seed(s)`` makes a run repeatable; ``get_state``/``set_state`` let a
checkpoint store and restore exactly where the stream was. A layer made with
its own ``seed=`` draws from a generator of its own instead (``RandomSource``).
On a GPU a layer's numbers are computed on the card (``DeviceStream``), so
nothing is drawn on the host and copied over per step.
"""
from __future__ import annotations

import random as _pyrandom

import numpy as np

_rng = [np.random.default_rng()]


def generator() -> np.random.Generator:
    """The library's NumPy random generator."""
    return _rng[0]


def set_seed(seed: int) -> None:
    """Seed minicnn's generator, NumPy's global one and Python's ``random``."""
    _rng[0] = np.random.default_rng(seed)
    np.random.seed(seed % 2**32)
    _pyrandom.seed(seed)


def get_state() -> dict:
    return _rng[0].bit_generator.state


def set_state(state: dict) -> None:
    _rng[0].bit_generator.state = state


class RandomSource:
    """Where one layer's random numbers come from, given Keras' ``seed=`` argument.

    With a seed, the layer draws from a generator of its own, seeded by it: two
    layers made with the same seed draw the same numbers, call after call,
    whatever the global seed is (Keras' ``SeedGenerator``). Without one, it
    draws from the library's generator, looked up at every draw, so
    ``set_seed`` (which replaces that generator) and a checkpoint's
    ``set_state`` cover the layer.

    The GPU path (``uniform``/``normal`` given CuPy as ``xp``) draws only a key
    from that generator, once (again after ``set_seed``), and computes the
    numbers on the card from it (``DeviceStream``): the same seed repeats them
    there too, but they are other numbers than the CPU's, and a checkpoint does
    not hold the card's position in its stream.
    """

    def __init__(self, seed: int | None = None):
        self._own = np.random.default_rng(seed) if seed is not None else None
        self._device, self._keyed_by = None, None

    def generator(self) -> np.random.Generator:
        return self._own if self._own is not None else generator()

    def uniform(self, shape, xp=np, dtype=np.float64):
        """Numbers in [0, 1) where ``xp`` keeps its arrays: NumPy's generator on
        the host (float64, as it draws them), the layer's ``DeviceStream`` in
        ``dtype`` otherwise."""
        if xp is np:
            return self.generator().random(shape)
        return self._stream(xp).uniform(shape, dtype)

    def normal(self, shape, stddev, xp=np, dtype=np.float64):
        """N(0, stddev²) numbers where ``xp`` keeps its arrays (see ``uniform``)."""
        if xp is np:
            return self.generator().normal(0.0, stddev, shape).astype(dtype, copy=False)
        return self._stream(xp).normal(shape, dtype) * np.dtype(dtype).type(stddev)

    def prepare(self, xp) -> None:
        """Make the device stream, or key it again after ``set_seed``, now: a CUDA
        graph's step calls this before each capture and replay, so the host copy
        this may take never lands inside a capture, and a replay draws from the
        current key (the graph reads key and position from device memory)."""
        self._stream(xp)

    def _stream(self, xp) -> DeviceStream:
        source = self.generator()
        if self._device is None or self._keyed_by is not source:  # first draw, or set_seed since
            key = int(source.integers(0, 2**63))
            if self._device is None or self._device.xp is not xp:
                self._device = DeviceStream(key, xp)
            else:
                self._device.rekey(key)
            self._keyed_by = source
        return self._device


class DeviceStream:
    """Random numbers computed where the data lives, from a (key, position) pair
    that lives there too: the i-th number of the stream is a hash of key + i.

    The hash is SplitMix64's output function (Steele, Lea & Flood, 2014): add
    the position times the golden-ratio constant, then xor-shift and multiply
    three times, which spreads every input bit over all 64 output bits. Each
    draw hashes the positions it needs (an ``arange``) and moves the position on,
    in place. Nothing is read back or copied in per draw, so a CUDA graph can
    replay a step that draws (``models/gpu/graph.py``): the replay reads the
    position from device memory and draws fresh numbers each time.
    """

    GOLDEN = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, key: int, xp):
        self.xp = xp
        self.state = xp.asarray([key, 0], dtype=np.uint64)  # the one copy to the device: (key, position)

    def rekey(self, key: int) -> None:
        """Start the stream again from ``key`` (in place: a captured step sees it)."""
        self.state[...] = self.xp.asarray([key, 0], dtype=np.uint64)

    def bits(self, n: int):
        """The next ``n`` 64-bit numbers of the stream."""
        xp = self.xp
        z = self.state[0] + (self.state[1] + xp.arange(n, dtype=np.uint64)) * self.GOLDEN
        self.state[1:] += np.uint64(n)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    def uniform(self, shape, dtype=np.float64):
        """Numbers in [0, 1): the top 11, 24 or 53 bits of each hash (float16, 32,
        64: the significand's width), times 2^-11, 2^-24 or 2^-53, so every value
        is exact in ``dtype`` and below 1."""
        dtype = np.dtype(dtype)
        mantissa = {2: 11, 4: 24}.get(dtype.itemsize, 53)
        n = int(np.prod(shape, dtype=np.int64))
        top = self.bits(n) >> np.uint64(64 - mantissa)
        return (top.astype(dtype) * dtype.type(2.0 ** -mantissa)).reshape(shape)

    def normal(self, shape, dtype=np.float64):
        """Standard normal numbers by Box and Muller: for u1, u2 uniform,
        sqrt(-2 ln(1 - u1)) times cos(2π u2) and sin(2π u2) are two independent
        N(0, 1) numbers (1 - u1 lies in (0, 1], so the log is finite)."""
        dtype = np.dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64))
        pairs = (n + 1) // 2
        u = self.uniform((2, pairs), dtype)
        radius = self.xp.sqrt(dtype.type(-2.0) * self.xp.log1p(-u[0]))
        angle = dtype.type(2.0 * np.pi) * u[1]
        both = self.xp.concatenate([radius * self.xp.cos(angle), radius * self.xp.sin(angle)])
        return both[:n].reshape(shape)
