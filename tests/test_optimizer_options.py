"""Gradient clipping and schedules given to optimizers, on numbers worked by hand
(parity/test_optimizer_options.py compares 20-step trajectories with Keras)."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.autograd import Variable


def one_sgd_step(grads, **options):
    """The change SGD(lr=1) makes to zero weights: minus the (clipped) gradients."""
    weights = [Variable(np.zeros_like(g), name=f"w{i}") for i, g in enumerate(grads)]
    mc.optimizers.SGD(learning_rate=1.0, **options).apply_gradients(zip([g.copy() for g in grads], weights))
    return [-w.data for w in weights]


GRADS = [np.array([3.0, 4.0]), np.array([0.0, 12.0])]  # norms 5 and 12, global norm 13


@pytest.mark.parametrize("options, expected", [
    ({"clipnorm": 6.5}, [[3.0, 4.0], [0.0, 6.5]]),                 # each gradient to norm <= 6.5
    ({"clipvalue": 3.5}, [[3.0, 3.5], [0.0, 3.5]]),                # each value into [-3.5, 3.5]
    ({"global_clipnorm": 6.5}, [[1.5, 2.0], [0.0, 6.0]]),          # all together to norm 6.5: halved
    ({"global_clipnorm": 20.0}, [[3.0, 4.0], [0.0, 12.0]]),        # under the norm: unchanged
])
def test_clipping(options, expected):
    for got, want in zip(one_sgd_step(GRADS, **options), expected):
        np.testing.assert_allclose(got, want, rtol=1e-15)


def test_only_one_clipping_option_as_in_keras():
    with pytest.raises(ValueError, match="Adam: only one of clipnorm, clipvalue and global_clipnorm can be set, "
                                         "got clipnorm=1.0, clipvalue=0.5, global_clipnorm=None"):
        mc.optimizers.Adam(clipnorm=1.0, clipvalue=0.5)


def test_schedules_are_found_where_keras_users_look():
    schedule = mc.optimizers.schedules.PiecewiseConstantDecay([0], [1.0, 0.5])
    sgd = mc.optimizers.SGD(learning_rate=schedule)
    assert sgd.learning_rate == 1.0
    sgd.apply_gradients([(np.ones(1), Variable(np.zeros(1), name="w"))])
    assert sgd.learning_rate == 0.5
