"""Learning-rate schedules, with Keras' names, arguments and formulas.

A schedule is a function of the optimizer's step count: the optimizer calls
``schedule(step)`` before each update, with step = 0 for the first update, 1
for the second, and so on (``Optimizer.iterations`` before it is increased).
Give one as the learning rate, as in Keras::

    lr = mc.optimizers.schedules.ExponentialDecay(0.01, decay_steps=1000, decay_rate=0.9)
    model.compile(optimizer=mc.optimizers.Adam(learning_rate=lr), ...)

The three schedules, for step s:

* ExponentialDecay:        lr0 · rate^(s / decay_steps)   (staircase: the exponent floored)
* PiecewiseConstantDecay:  values[0] while s <= boundaries[0], values[i] while
                           boundaries[i-1] < s <= boundaries[i], values[-1] after the last
* CosineDecay:             lr0 · ((1 - alpha) · (1 + cos(π · min(s, decay_steps) / decay_steps)) / 2 + alpha);
                           with a warmup, first a straight line from lr0 up to warmup_target over
                           warmup_steps, then the cosine from warmup_target over decay_steps

Keras evaluates these in float32 whatever the model's dtype; minicnn in Python
floats (the parity suite compares the two, see parity/DIFFERENCES.md).
"""
from __future__ import annotations

import math


class LearningRateSchedule:
    """Base class: ``schedule(step)`` is the learning rate for that step (a Python float)."""

    def __call__(self, step) -> float:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override __call__(step)")

    def get_config(self) -> dict:
        """The constructor's arguments: ``type(s)(**s.get_config())`` is the same schedule."""
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _positive_steps(schedule: str, decay_steps) -> None:
    if not decay_steps > 0:
        raise ValueError(f"{schedule}: decay_steps must be > 0, got {decay_steps!r}")


class ExponentialDecay(LearningRateSchedule):
    """lr0 · decay_rate^(step / decay_steps); with ``staircase=True`` the exponent is
    floored, so the rate drops in steps every ``decay_steps`` updates."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        _positive_steps("ExponentialDecay", decay_steps)
        self.initial_learning_rate, self.decay_steps, self.decay_rate = initial_learning_rate, decay_steps, decay_rate
        self.staircase, self.name = staircase, name

    def __call__(self, step) -> float:
        p = float(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` between the boundaries around the step: values[0] up to and
    including boundaries[0], ..., values[-1] after boundaries[-1]."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"PiecewiseConstantDecay: there must be one value more than boundaries, got "
                             f"{len(boundaries)} boundaries {boundaries} and {len(values)} values {values}")
        if any(b >= a for a, b in zip(boundaries[1:], boundaries)):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase, got {boundaries}")
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step) -> float:
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Half a cosine from the rate down to ``alpha`` times it over ``decay_steps``
    (then constant), after an optional linear warmup to ``warmup_target``."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        _positive_steps("CosineDecay", decay_steps)
        self.initial_learning_rate, self.decay_steps, self.alpha = initial_learning_rate, decay_steps, alpha
        self.name, self.warmup_target, self.warmup_steps = name, warmup_target, warmup_steps

    def __call__(self, step) -> float:
        step = float(step)
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            rise = self.warmup_target - self.initial_learning_rate
            return rise * (step / self.warmup_steps) + self.initial_learning_rate
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def _decay(self, step, start) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * (step / self.decay_steps)))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


__all__ = ["CosineDecay", "ExponentialDecay", "LearningRateSchedule", "PiecewiseConstantDecay"]
