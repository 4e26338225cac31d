"""Weight initializers with Keras' names, defaults and formulas.

Most are "variance scaling": draw with variance ``scale / n`` where n is the
fan-in, the fan-out, or their average. For a conv kernel (kh, kw, c_in, c_out)
the fans are kh·kw·c_in and kh·kw·c_out. Glorot/Xavier keeps the variance of
activations and gradients roughly constant through a layer: uniform in
[-limit, limit] with limit = sqrt(6 / (fan_in + fan_out)).
"""
from __future__ import annotations

import inspect
import math

import numpy as np

from . import backend
from .random import generator


def compute_fans(shape):
    """(fan_in, fan_out) of a Dense (in, out) or conv (kh, kw, in, out) kernel."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    def __call__(self, shape, dtype=None):
        dtype = dtype or backend.floatx()
        return backend.to_device(self.sample(tuple(shape)), dtype=dtype)

    def sample(self, shape):
        raise NotImplementedError

    def get_config(self):
        return dict(vars(self))


class Zeros(Initializer):
    def sample(self, shape):
        return np.zeros(shape)


class Ones(Initializer):
    def sample(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def sample(self, shape):
        return np.full(shape, self.value)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape):
        rng = generator() if self.seed is None else np.random.default_rng(self.seed)
        return rng.normal(self.mean, self.stddev, shape)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def sample(self, shape):
        rng = generator() if self.seed is None else np.random.default_rng(self.seed)
        return rng.uniform(self.minval, self.maxval, shape)


def _truncated_normal(rng, stddev, shape):
    """Normal samples redrawn until they fall within two standard deviations."""
    out = rng.normal(0.0, stddev, shape)
    bad = np.abs(out) > 2 * stddev
    while bad.any():
        out[bad] = rng.normal(0.0, stddev, int(bad.sum()))
        bad = np.abs(out) > 2 * stddev
    return out


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape):
        rng = generator() if self.seed is None else np.random.default_rng(self.seed)
        return self.mean + _truncated_normal(rng, self.stddev, shape)


class VarianceScaling(Initializer):
    """Variance ``scale / n``, n from ``mode`` ('fan_in', 'fan_out', 'fan_avg')."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def sample(self, shape):
        rng = generator() if self.seed is None else np.random.default_rng(self.seed)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape)
        # std of a normal truncated at 2 sigma is 0.8796 sigma: compensate
        return _truncated_normal(rng, math.sqrt(variance) / 0.87962566103423978, shape)


class GlorotUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)


class HeUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)


class HeNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)


class LecunUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", seed)


class LecunNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_normal": RandomNormal, "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
}


_BY_CLASS_NAME = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier) -> Initializer:
    """An initializer from a name ('glorot_uniform'), an instance, a callable, or
    the dict ``serialize`` writes (Keras' form: ``{"class_name": "HeNormal", "config": {...}}``)."""
    if isinstance(identifier, Initializer) or callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_CLASS_NAME:
        cls = _BY_CLASS_NAME[identifier["class_name"]]
        config = dict(identifier.get("config") or {})
        accepted = _constructor_arguments(cls)
        unknown = {k: v for k, v in config.items() if k not in accepted and v is not None}
        if unknown:
            raise ValueError(f"Initializer {cls.__name__}: minicnn does not support the argument(s) {unknown}")
        return cls(**{k: v for k, v in config.items() if k in accepted})
    raise ValueError(f"Unknown initializer {identifier!r}. Valid names: {sorted(_BY_NAME)}")


def serialize(initializer):
    """Keras' dict for one of minicnn's initializers (its class and constructor
    arguments); anything else (your own function) is returned as it is."""
    cls = type(initializer)
    if _BY_CLASS_NAME.get(cls.__name__) is not cls:
        return initializer
    return {"module": "keras.initializers", "class_name": cls.__name__,
            "config": {p: getattr(initializer, p) for p in _constructor_arguments(cls)}, "registered_name": None}


def _constructor_arguments(cls) -> list[str]:
    """The named arguments of ``cls()``; each initializer keeps them as attributes of the same name."""
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
