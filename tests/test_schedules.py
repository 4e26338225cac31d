"""Learning-rate schedules (``minicnn/schedules.py``): their formulas at the edges, their
errors, their configs, and the step an optimizer asks them for. parity/ compares their
values and the training they drive with Keras'."""
import math

import numpy as np
import pytest

from minicnn import optimizers
from minicnn.autograd import Variable
from minicnn.schedules import CosineDecay, ExponentialDecay, PiecewiseConstantDecay


def test_exponential_decay_smooth_and_staircase():
    smooth = ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5)
    stairs = ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=True)
    assert smooth(0) == 0.1 and smooth(4) == 0.05 and smooth(2) == pytest.approx(0.1 * 0.5**0.5)
    assert [stairs(s) for s in (0, 3, 4, 7, 8)] == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_piecewise_constant_includes_each_boundary_in_the_range_below_it():
    schedule = PiecewiseConstantDecay([2, 5], [1.0, 0.5, 0.1])
    assert [schedule(s) for s in range(8)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.1, 0.1]


def test_cosine_decay_ends_at_alpha_and_stays_there():
    schedule = CosineDecay(0.2, decay_steps=10, alpha=0.1)
    assert schedule(0) == pytest.approx(0.2)
    assert schedule(5) == pytest.approx(0.2 * (0.9 * 0.5 + 0.1))
    assert schedule(10) == schedule(50) == pytest.approx(0.02)


def test_cosine_decay_warms_up_linearly_then_decays_from_the_target():
    schedule = CosineDecay(0.0, decay_steps=10, warmup_target=0.4, warmup_steps=4)
    assert [schedule(s) for s in (0, 1, 2)] == pytest.approx([0.0, 0.1, 0.2])
    assert schedule(4) == pytest.approx(0.4)
    assert schedule(9) == pytest.approx(0.4 * 0.5 * (1 + math.cos(math.pi / 2)))
    assert schedule(14) == schedule(100) == pytest.approx(0.0)


@pytest.mark.parametrize("make, message", [
    (lambda: ExponentialDecay(0.1, 0, 0.5), "ExponentialDecay: decay_steps must be > 0, got 0"),
    (lambda: CosineDecay(0.1, -3), "CosineDecay: decay_steps must be > 0, got -3"),
    (lambda: PiecewiseConstantDecay([1, 2], [0.1, 0.2]), "one value more than boundaries, got 2 boundaries"),
    (lambda: PiecewiseConstantDecay([5, 2], [0.1, 0.2, 0.3]), "boundaries must increase, got \\[5, 2\\]"),
])
def test_bad_arguments_are_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("schedule", [ExponentialDecay(0.1, 3, 0.9, staircase=True),
                                      PiecewiseConstantDecay([3], [0.1, 0.01]),
                                      CosineDecay(0.1, 7, alpha=0.2, warmup_target=0.3, warmup_steps=2)])
def test_config_makes_the_same_schedule(schedule):
    again = type(schedule).from_config(schedule.get_config())
    assert [again(s) for s in range(12)] == [schedule(s) for s in range(12)]


def test_an_optimizer_asks_for_step_0_first_and_uses_the_answer():
    """SGD's update is lr · g: with g = 1 each step moves the weight by that step's rate."""
    asked = []

    def schedule(step):
        asked.append(step)
        return PiecewiseConstantDecay([1], [0.5, 0.25])(step)

    sgd = optimizers.SGD(learning_rate=schedule)
    w = Variable(np.zeros(1), name="w")
    moves = []
    for _ in range(3):
        before = float(w.data[0])
        sgd.apply_gradients([(np.ones(1), w)])
        moves.append(before - float(w.data[0]))
    assert asked == [0, 1, 2] and moves == [0.5, 0.5, 0.25]
