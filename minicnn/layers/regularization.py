"""Noise layers that regularize in training and do nothing at inference:
SpatialDropout2D (drops whole channels) and GaussianNoise (adds N(0, stddev²))."""
from __future__ import annotations

from .. import backend
from ..autograd import as_tensor
from ..random import RandomSource
from .arguments import check_channels_last
from .base import InputSpec, Layer
from .core import Dropout


class SpatialDropout2D(Dropout):
    """Dropout of whole feature maps: each (sample, channel) pair is kept or
    dropped as one, the same draw for every pixel of that channel.

    Neighbouring pixels of a convolution's output are strongly correlated, so
    dropping single pixels hardly regularizes; dropping a channel does. Kept
    channels are scaled by 1/(1-rate), as in Dropout. Inputs are NHWC, so the
    mask has shape (N, 1, 1, C).
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, noise_shape=(None, 1, 1, None), seed=seed, **kwargs)
        check_channels_last(data_format, f"SpatialDropout2D '{self.name}'")
        self.input_spec = InputSpec(ndim=4)

    def get_config(self):
        # Keras' SpatialDropout2D takes no ``trainable`` or ``noise_shape`` argument
        return {"name": self.name, "dtype": self.dtype, "rate": self.rate, "seed": self.seed,
                "data_format": "channels_last"}


class GaussianNoise(Layer):
    """x + ε with ε ~ N(0, stddev²) drawn afresh at each training call; x at inference.

    The noise does not depend on x, so the gradient passes through unchanged.
    ``stddev`` must lie in [0, 1], as in Keras; ``seed=`` gives the layer its own
    generator, as Dropout's does (and on a GPU its numbers are computed there too).
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= stddev <= 1:
            raise ValueError(f"GaussianNoise '{self.name}': stddev must be in [0, 1], got {stddev}")
        self.stddev, self.seed = stddev, seed
        self._random = RandomSource(seed)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        noise = self._random.normal(inputs.shape, self.stddev, backend.get_array_module(inputs.data), inputs.dtype)
        return inputs + as_tensor(noise.astype(inputs.dtype, copy=False))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}
