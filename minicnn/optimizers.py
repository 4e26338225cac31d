"""Optimizers with Keras 3's defaults and update rules.

Every optimizer turns (gradient g, weight w) into a new w, keeping per-weight
state ("slots") such as Adam's moving averages m and v. The formulas, with
t = step number starting at 1:

* SGD:       w -= lr·g;  with momentum μ: m = μ·m - lr·g, w += m
             (Nesterov: w += μ·m - lr·g)
* Adam:      m += (1-β1)(g - m); v += (1-β2)(g² - v)
             w -= lr·sqrt(1-β2ᵗ)/(1-β1ᵗ) · m / (sqrt(v) + ε)
* AdamW:     Adam, after decaying the weight: w -= lr·wd·w
* RMSprop:   v = ρ·v + (1-ρ)·g²;  w -= lr·g / sqrt(v + ε)

Note where ε sits: Adam adds it to sqrt(v), RMSprop inside the square root.

Every step, as Keras does it: lr is read (a number, or a schedule from
``optimizers.schedules`` called with the step count, 0 for the first step);
the gradients are clipped (at most one of clipnorm: each g to norm <= c;
global_clipnorm: all g together to norm <= c; clipvalue: each value into
[-c, c]); with ``weight_decay`` (any optimizer, AdamW's default 0.004) each
weight first shrinks, w -= lr·wd·w; then the update above runs. Those details
are what the parity suite checks against Keras.
"""
from __future__ import annotations

import math

from . import schedules  # noqa: F401 - Keras' spelling: optimizers.schedules.ExponentialDecay
from .autograd import Tensor
from .backend import get_array_module
from .ops.kernels import fast_kernel


class Optimizer:
    """Base class. ``apply(grads, variables)`` performs one step in place."""

    name = "optimizer"
    hyperparameters: tuple[str, ...] = ()  # the subclass's own arguments, for get_config
    # Keras arguments minicnn has no use for, with the one value each may take here
    # (so that ``Adam(**keras_adam.get_config())`` works and anything else is refused)
    KERAS_ONLY = {"use_ema": False, "ema_overwrite_frequency": None, "loss_scale_factor": None,
                  "gradient_accumulation_steps": None}

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name=None, ema_momentum=0.99, **keras_only):
        for key, value in keras_only.items():
            if key not in self.KERAS_ONLY:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {key!r}")
            if value != self.KERAS_ONLY[key]:
                raise ValueError(f"{type(self).__name__}: {key}={value!r} is not supported by minicnn "
                                 f"(only {self.KERAS_ONLY[key]!r})")
        self.config_name = name or type(self).__name__.lower()  # Keras' default names: 'adam', 'sgd', ...
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:  # as Keras
            raise ValueError(f"{type(self).__name__}: only one of clipnorm, clipvalue and global_clipnorm can "
                             f"be set, got clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.iterations = 0
        self._slots: dict[int, dict] = {}

    # -- learning rate: a number or a schedule f(step) -------------------------
    @property
    def learning_rate(self) -> float:
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else float(lr)

    @learning_rate.setter
    def learning_rate(self, value):
        """A number >= 0 (checked here: a negative rate would climb the loss), or a schedule f(step)."""
        if not callable(value) and not float(value) >= 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be >= 0 or a schedule, got {value!r}")
        self._learning_rate = value

    lr = learning_rate

    # -- one step ----------------------------------------------------------------
    def apply(self, grads, variables) -> None:
        """Update each variable (a Tensor) in place from its gradient array."""
        grads = self._clip(list(grads))
        lr = self.learning_rate
        self.iterations += 1
        for g, var in zip(grads, variables):
            if g is None:
                continue
            slots = self._slots.get(id(var))
            if slots is None:
                slots = self._slots[id(var)] = self.create_slots(var.data)
            if self.weight_decay:
                var.data -= var.data * (lr * self.weight_decay)
            self.update(var.data, g.astype(var.data.dtype, copy=False), slots, lr)
            if getattr(var, "constraint", None) is not None:  # back onto its allowed set (constraints.py)
                projected = var.constraint(var.data)
                var.data[...] = projected.data if isinstance(projected, Tensor) else projected
            var.version += 1

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras spelling: ``apply_gradients(zip(grads, variables))``."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def _clip(self, grads):
        present = [g for g in grads if g is not None]
        if self.clipvalue is not None:
            grads = [None if g is None else g.clip(-self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            grads = [None if g is None else _scale_to_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm is not None and present:
            xp = get_array_module(present[0])
            norm = xp.sqrt(sum((g.astype(xp.float64) ** 2).sum() for g in present))
            # min(1, clip / norm), computed where the gradients are: no wait for the GPU
            scale = xp.minimum(1.0, self.global_clipnorm / xp.maximum(norm, 1e-12))
            grads = [None if g is None else g * scale.astype(g.dtype) for g in grads]
        return grads

    def create_slots(self, w) -> dict:
        return {}

    def update(self, w, g, slots, lr) -> None:
        raise NotImplementedError

    # -- state for checkpoints ------------------------------------------------------
    def slots_for(self, variables) -> list[dict]:
        """The per-variable state, in the order of ``variables``."""
        return [self._slots.get(id(v), {}) for v in variables]

    def set_slots_for(self, variables, slots, iterations) -> None:
        self._slots = {id(v): s for v, s in zip(variables, slots) if s}
        self.iterations = iterations

    def get_config(self) -> dict:
        """Keras' config for this optimizer: ``type(opt)(**opt.get_config())`` makes
        the same one (without its state). A schedule is returned as it is."""
        return {"name": self.config_name,
                "learning_rate": self._learning_rate if callable(self._learning_rate) else self.learning_rate,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue, "ema_momentum": 0.99,
                **self.KERAS_ONLY, **{k: getattr(self, k) for k in self.hyperparameters}}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def keras_slot_groups(self) -> list[tuple[str, ...]]:
        """How Keras orders this optimizer's per-weight state in its ``variables``
        (after the step counter and the learning rate): one block per group, and
        within a block, for each trainable weight in turn, the group's slots.
        Adam's ``[("m", "v")]`` gives m₀ v₀ m₁ v₁ ...; RMSprop's
        ``[("velocity",), ("momentum",)]`` gives all velocities, then all momenta."""
        return []


def _scale_to_norm(g, max_norm):
    """g shrunk to L2 norm ``max_norm`` if it is longer: g · max_norm / max(|g|, max_norm),
    computed where g is (no wait for the GPU to hand the norm to Python)."""
    xp = get_array_module(g)
    norm = xp.sqrt((g * g).sum())
    return g * (g.dtype.type(max_norm) / xp.maximum(norm, g.dtype.type(max_norm)))


class SGD(Optimizer):
    name = "SGD"
    hyperparameters = ("momentum", "nesterov")

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum}")
        self.momentum, self.nesterov = momentum, nesterov

    def create_slots(self, w):
        xp = get_array_module(w)
        return {"momentum": xp.zeros_like(w)} if self.momentum else {}

    def keras_slot_groups(self):
        return [("momentum",)] if self.momentum else []

    def update(self, w, g, slots, lr):
        if not self.momentum:
            w -= lr * g
            return
        m = slots["momentum"]
        m *= self.momentum
        m -= lr * g
        if self.nesterov:
            w += self.momentum * m - lr * g
        else:
            w += m


class Adam(Optimizer):
    name = "Adam"
    hyperparameters = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad
        self.device_step_size = None

    def create_slots(self, w):
        xp = get_array_module(w)
        slots = {"m": xp.zeros_like(w), "v": xp.zeros_like(w)}
        if self.amsgrad:
            slots["v_hat"] = xp.zeros_like(w)
        return slots

    def keras_slot_groups(self):
        return [("m", "v"), ("v_hat",)] if self.amsgrad else [("m", "v")]

    def step_size(self, lr, t: int) -> float:
        """Adam's bias-corrected step size at step t: lr·sqrt(1-β2ᵗ)/(1-β1ᵗ)."""
        return lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)

    def update(self, w, g, slots, lr):
        """The formulas of the module docstring, in place. Fast path:
        ``ops/kernels/numba_cpu.py::adam_update`` (``cupy_gpu.py`` on the GPU),
        one pass over the weights. ``device_step_size``, when set, is a
        one-element device array holding the step size, which whoever set it
        writes before each step (a replayed CUDA graph, ``models/gpu/graph.py``)."""
        alpha = self.step_size(lr, self.iterations) if self.device_step_size is None else self.device_step_size
        m, v, v_hat = slots["m"], slots["v"], slots.get("v_hat")
        fast = fast_kernel("adam_update", w)
        if fast is not None:
            fast(w, g, m, v, v_hat, alpha, self.beta_1, self.beta_2, self.epsilon)
            return
        xp = get_array_module(w)
        m += (g - m) * (1 - self.beta_1)
        v += (g * g - v) * (1 - self.beta_2)
        if v_hat is not None:  # AMSGrad: divide by the largest v seen so far
            xp.maximum(v_hat, v, out=v_hat)
            v = v_hat
        w -= (m * alpha) / (xp.sqrt(v) + self.epsilon)


class AdamW(Adam):
    name = "AdamW"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    name = "RMSprop"
    hyperparameters = ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def create_slots(self, w):
        xp = get_array_module(w)
        slots = {"velocity": xp.zeros_like(w)}
        if self.momentum:
            slots["momentum"] = xp.zeros_like(w)
        if self.centered:
            slots["average_gradient"] = xp.zeros_like(w)
        return slots

    def keras_slot_groups(self):
        return [("velocity",)] + [("momentum",)] * bool(self.momentum) + [("average_gradient",)] * self.centered

    def update(self, w, g, slots, lr):
        xp = get_array_module(w)
        v = slots["velocity"]
        v *= self.rho
        v += (1 - self.rho) * g * g
        if self.centered:
            avg = slots["average_gradient"]
            avg *= self.rho
            avg += (1 - self.rho) * g
            denominator = v - avg * avg + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = lr * g / xp.sqrt(denominator)
        if self.momentum:
            m = slots["momentum"]
            m *= self.momentum
            m += increment
            w -= m
        else:
            w -= increment


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def get(identifier) -> Optimizer:
    """An optimizer from a name ('adam', 'sgd', 'rmsprop', 'adamw') or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Unknown optimizer {identifier!r}. Valid names: {sorted(_BY_NAME)}")
