"""Optimizers: 20 steps from the same weights with the same gradients, same trajectory.

Both optimizers update two variables (a matrix and a vector) with a fixed
sequence of random gradients; the weights are compared after every step.

Keras (TensorFlow backend) rounds hyperparameters to float32 even for float64
weights: the learning rate is a float32 variable, and ``ops.cast(0.9, "float64")``
goes through float32 (0.9 -> 0.89999997615814). minicnn keeps Python floats. So
the float64 cases use hyperparameters that float32 represents exactly (0.875,
1 - 2**-10, 2**-7 ...), and the comparison at 1e-9 is about the update rule,
not about a constant (see DIFFERENCES.md). float32 cases use Keras' defaults.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

import minicnn as mc
from minicnn.autograd import Variable

from .harness import DTYPES, Row, keras_modules

STEPS = 20
# float64 runs: values exact in float32, replacing Keras' defaults
EXACT = {"momentum": 0.875, "beta_1": 0.875, "beta_2": 1 - 2**-10, "rho": 0.875, "weight_decay": 2**-8}
OPTIMIZERS = {  # row: (class name, fixed arguments)
    "SGD": ("SGD", {}),
    "SGD (momentum)": ("SGD", {"momentum": 0.9}),
    "SGD (nesterov)": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "Adam": ("Adam", {"beta_1": 0.9, "beta_2": 0.999}),
    "Adam (amsgrad)": ("Adam", {"beta_1": 0.9, "beta_2": 0.999, "amsgrad": True}),
    "AdamW": ("AdamW", {"beta_1": 0.9, "beta_2": 0.999, "weight_decay": 0.004}),
    "RMSprop": ("RMSprop", {"rho": 0.9}),
    "RMSprop (centered)": ("RMSprop", {"rho": 0.9, "centered": True}),
    "RMSprop (momentum)": ("RMSprop", {"rho": 0.9, "momentum": 0.9}),
    "RMSprop (centered, momentum)": ("RMSprop", {"rho": 0.9, "centered": True, "momentum": 0.5}),
}


@st.composite
def optimizer_case(draw):
    dtype = draw(st.sampled_from(DTYPES))
    rates = [2**-10, 2**-7, 2**-4] if dtype == "float64" else [1e-3, 1e-2, 0.1]
    return (draw(st.sampled_from(rates)), dtype,
            (draw(st.integers(1, 6)), draw(st.integers(1, 6))), draw(st.integers(0, 2**31 - 1)))


def _optimizer_check(label):
    cls_name, fixed = OPTIMIZERS[label]

    def check(case, stats):
        lr, dtype, shape, seed = case
        args = {k: (EXACT[k] if dtype == "float64" and k in EXACT else v) for k, v in fixed.items()}
        compare_trajectories(stats, cls_name, {"learning_rate": lr, **args}, dtype, shape, seed)
    return check


def compare_trajectories(stats, cls_name, args, dtype, shape, seed, mc_args=None, constraint=None):
    """Both libraries' ``cls_name(**args)`` take STEPS steps with the same random
    gradients from the same weights (a matrix of ``shape`` and a vector); the
    weights are compared after every step. ``mc_args`` overrides arguments for
    minicnn only (a stated reason in the caller); ``constraint`` (a class name
    in both ``constraints`` modules and its arguments) is put on the matrix."""
    keras, tf = keras_modules()
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape[1:]).astype(dtype)]
    grads = [[rng.standard_normal(w.shape).astype(dtype) for w in start] for _ in range(STEPS)]
    k_opt = getattr(keras.optimizers, cls_name)(**args)
    m_opt = getattr(mc.optimizers, cls_name)(**{**args, **(mc_args or {})})
    k_vars = [keras.Variable(w.copy(), dtype=dtype) for w in start]
    m_vars = [Variable(w.copy(), name=f"w{i}") for i, w in enumerate(start)]
    if constraint is not None:
        name, kwargs = constraint
        k_vars[0].constraint = getattr(keras.constraints, name)(**kwargs)
        m_vars[0].constraint = getattr(mc.constraints, name)(**kwargs)
    for step, g in enumerate(grads, 1):
        k_opt.apply_gradients(zip([tf.constant(x) for x in g], k_vars))
        m_opt.apply_gradients(zip([x.copy() for x in g], m_vars))
        for i, (m, k) in enumerate(zip(m_vars, k_vars)):
            stats.compare(f"weight {i} after step {step}", m.numpy(), k.numpy(), dtype, "steps")


ROWS = [Row("optimizers", f"{label}: {STEPS} steps", _optimizer_check(label), optimizer_case(), examples=8)
        for label in OPTIMIZERS]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_optimizer_matches_keras(row):
    row.run()
