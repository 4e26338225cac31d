"""Optimizer options against Keras: gradient clipping, weight decay, learning-rate schedules,
weight constraints.

Each row draws an optimizer (SGD with momentum, Adam, RMSprop, and AdamW for
weight decay), a dtype (float32 with Keras' defaults, float64 with
hyperparameters exact in float32, as ``test_optimizers.py`` explains) and a
seed, and compares 20 steps with ``test_optimizers.compare_trajectories``.
The random gradients (standard normal, matrices up to 6x6) are large enough
that clipnorm=1, clipvalue=0.5 and global_clipnorm=2 cut most steps.

Schedules: Keras evaluates a schedule in float32 whatever the weights' dtype
(its ``initial_learning_rate`` becomes a float32 tensor), so a cosine's value
differs from minicnn's (Python floats) by ~1e-8, above the float64 tolerance.
So float64 cases hand minicnn's optimizer the values Keras' schedule gives for
the step minicnn asks for (what is checked: the step asked for and how the
rate enters the update); float32 cases run minicnn's own schedule; and the
row "schedule values" compares each schedule's values with Keras' directly,
at the float32 forward tolerance. See DIFFERENCES.md.
"""
from __future__ import annotations

import pytest
from hypothesis import strategies as st

import minicnn as mc

from .harness import DTYPES, Row, keras_modules
from .test_optimizers import EXACT, STEPS, compare_trajectories

BASES = {  # optimizer: (class name, arguments; float64 cases take EXACT's values for these)
    "SGD (momentum)": ("SGD", {"momentum": 0.9}),
    "Adam": ("Adam", {"beta_1": 0.9, "beta_2": 0.999}),
    "RMSprop": ("RMSprop", {"rho": 0.9}),
}
DECAYING = {**BASES, "AdamW": ("AdamW", {"beta_1": 0.9, "beta_2": 0.999})}
RATES = {"float32": [1e-3, 1e-2, 0.1], "float64": [2**-10, 2**-7, 2**-4]}


def _base(draw, bases):
    dtype = draw(st.sampled_from(DTYPES))
    cls_name, fixed = bases[draw(st.sampled_from(sorted(bases)))]
    args = {k: (EXACT[k] if dtype == "float64" else v) for k, v in fixed.items()}
    return dtype, cls_name, {"learning_rate": draw(st.sampled_from(RATES[dtype])), **args}


def _shape_seed(draw):
    return (draw(st.integers(1, 6)), draw(st.integers(1, 6))), draw(st.integers(0, 2**31 - 1))


@st.composite
def option_case(draw, option, values, bases=BASES):
    dtype, cls_name, args = _base(draw, bases)
    return (dtype, cls_name, {**args, option: draw(st.sampled_from(values[dtype]))}, *_shape_seed(draw))


def _option_check(case, stats):
    dtype, cls_name, args, shape, seed = case
    compare_trajectories(stats, cls_name, args, dtype, shape, seed)


OPTIONS = {  # row: (argument, values per dtype, optimizers)
    "clipnorm": ("clipnorm", {"float32": [1.0, 0.25], "float64": [1.0, 0.25]}, BASES),
    "clipvalue": ("clipvalue", {"float32": [0.5, 0.1], "float64": [0.5, 2**-3]}, BASES),
    "global_clipnorm": ("global_clipnorm", {"float32": [2.0, 0.5], "float64": [2.0, 0.5]}, BASES),
    "weight_decay (SGD, Adam, RMSprop, AdamW)": ("weight_decay", {"float32": [0.004, 0.1],
                                                                   "float64": [2**-8, 2**-4]}, DECAYING),
}


# -- schedules -------------------------------------------------------------------------------
@st.composite
def schedule_kwargs(draw, name, lr):
    if name == "ExponentialDecay":
        return {"initial_learning_rate": lr, "decay_steps": draw(st.integers(1, 8)),
                "decay_rate": draw(st.sampled_from([0.5, 0.9])), "staircase": draw(st.booleans())}
    if name == "PiecewiseConstantDecay":
        first = draw(st.integers(0, 10))
        return {"boundaries": [first, first + draw(st.integers(1, 8))], "values": [lr, lr / 2, lr / 8]}
    warmup = draw(st.booleans())
    return {"initial_learning_rate": lr, "decay_steps": draw(st.integers(5, 30)),
            "alpha": draw(st.sampled_from([0.0, 0.125])),
            **({"warmup_target": 2 * lr, "warmup_steps": draw(st.integers(1, 6))} if warmup else {})}


@st.composite
def schedule_case(draw, name):
    dtype, cls_name, args = _base(draw, BASES)
    kwargs = draw(schedule_kwargs(name, args.pop("learning_rate")))
    return dtype, cls_name, args, name, kwargs, *_shape_seed(draw)


class KerasScheduleValues:
    """A minicnn schedule that answers with Keras' schedule's (float32) value for
    the step asked for: float64 cases only, see the module docstring."""

    def __init__(self, keras_schedule):
        self.keras_schedule = keras_schedule

    def __call__(self, step):
        return float(self.keras_schedule(step))


def _schedule_check(case, stats):
    keras, _ = keras_modules()
    dtype, cls_name, args, name, kwargs, shape, seed = case
    k_schedule = getattr(keras.optimizers.schedules, name)(**kwargs)
    m_schedule = (KerasScheduleValues(k_schedule) if dtype == "float64"
                  else getattr(mc.optimizers.schedules, name)(**kwargs))
    compare_trajectories(stats, cls_name, {**args, "learning_rate": k_schedule}, dtype, shape, seed,
                         mc_args={"learning_rate": m_schedule})


SCHEDULES = ("ExponentialDecay", "PiecewiseConstantDecay", "CosineDecay")


@st.composite
def values_case(draw):
    name = draw(st.sampled_from(SCHEDULES))
    return name, draw(schedule_kwargs(name, draw(st.sampled_from(RATES["float32"] + RATES["float64"]))))


def _values_check(case, stats):
    """Steps 0..59 (past every decay and boundary drawn): minicnn's schedule against Keras'."""
    keras, _ = keras_modules()
    name, kwargs = case
    k_schedule = getattr(keras.optimizers.schedules, name)(**kwargs)
    m_schedule = getattr(mc.optimizers.schedules, name)(**kwargs)
    steps = range(60)
    stats.compare(f"{name} values", [m_schedule(s) for s in steps], [float(k_schedule(s)) for s in steps],
                  "float32")


# -- constraints: the matrix projected after every step ----------------------------------------
CONSTRAINTS = {
    "MaxNorm": lambda draw: {"max_value": draw(st.sampled_from([0.5, 1.0, 2.0]))},
    "MinMaxNorm": lambda draw: {"min_value": draw(st.sampled_from([0.0, 0.5])), "max_value": 1.0,
                                "rate": draw(st.sampled_from([1.0, 0.5]))},
    "UnitNorm": lambda draw: {},
    "NonNeg": lambda draw: {},
}


@st.composite
def constraint_case(draw):
    dtype, cls_name, args = _base(draw, BASES)
    name = draw(st.sampled_from(sorted(CONSTRAINTS)))
    kwargs = CONSTRAINTS[name](draw)
    if name != "NonNeg":
        kwargs["axis"] = draw(st.sampled_from([0, 1, [0, 1]]))
    return dtype, cls_name, args, (name, kwargs), *_shape_seed(draw)


def _constraint_check(case, stats):
    dtype, cls_name, args, constraint, shape, seed = case
    compare_trajectories(stats, cls_name, args, dtype, shape, seed, constraint=constraint)


ROWS = [Row("optimizers", f"{label}: {STEPS} steps", _option_check, option_case(option, values, bases),
            examples=8) for label, (option, values, bases) in OPTIONS.items()]
ROWS += [Row("optimizers", f"{name}: {STEPS} steps", _schedule_check, schedule_case(name), examples=8)
         for name in SCHEDULES]
ROWS += [Row("optimizers", "schedule values (steps 0-59, Keras computes in float32)", _values_check, values_case(),
             examples=20)]
ROWS += [Row("optimizers", f"constraints (MaxNorm, MinMaxNorm, UnitNorm, NonNeg): {STEPS} steps",
             _constraint_check, constraint_case(), examples=16)]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_optimizer_option_matches_keras(row):
    row.run()
