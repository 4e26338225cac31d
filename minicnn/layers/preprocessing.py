"""Preprocessing and augmentation layers (Keras' ``keras.layers.Random*`` family).

Two kinds, as in Keras:

* ``Rescaling`` and ``Resizing`` transform every input, in training and at
  inference (they are part of what the model *is*);
* ``RandomFlip``, ``RandomRotation``, ``RandomZoom``, ``RandomTranslation`` and
  ``RandomContrast`` change images only while training (``fit``);
  ``evaluate``/``predict`` see the images untouched. Each training batch gets
  fresh random parameters per image.

As in Keras, an augmentation is two steps one can call apart:
``get_random_transformation(images)`` draws the parameters (a dict with Keras'
keys: ``angle`` in degrees, ``height_zoom``/``width_zoom``, ``translations`` in
pixels, ``contrast_factor``, flip flags), and ``transform_images(images,
transformation)`` applies given parameters, with no randomness. So one can see
what was drawn, or apply a transformation written by hand.

All geometric augmentations are one idea: an *affine map* from each output
pixel (x, y) back to the input position it should show,

    x_in = a0·x + a1·y + a2,    y_in = b0·x + b1·y + b2,

followed by sampling the input there (bilinear: a weighted mean of the four
nearest pixels). Positions outside the image are filled by ``fill_mode``
('reflect' mirrors the image: d c b a | a b c d | d c b a, as Keras does).

Random numbers come from minicnn's generator (``minicnn.random``), so
``set_random_seed`` makes augmentation repeatable and a checkpoint's RNG state
covers it; pass ``seed=`` to give one layer its own stream instead.
Augmentation is applied to the data, not differentiated through: use these
layers at the start of a model, on images.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Tensor, math_ops
from ..random import RandomSource
from .arguments import one_of
from .base import InputSpec, Layer

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


class Rescaling(Layer):
    """``x * scale + offset`` (e.g. ``Rescaling(1/255)`` maps pixels to [0, 1])."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset

    def call(self, inputs):
        out = inputs * float(self.scale)
        return out + float(self.offset) if self.offset else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


# -- resizing: a linear map along each image axis ----------------------------------------
def resize_matrix(in_size: int, out_size: int, interpolation="bilinear", xp=np, dtype=None) -> np.ndarray:
    """The (out_size, in_size) matrix R with ``resized = R @ column``.

    Same rule as TensorFlow's ``tf.image.resize`` (which Keras uses), with
    half-pixel centres: output pixel i looks at input position
    ``(i + 0.5) * in/out - 0.5`` and mixes its two neighbours linearly
    (edges clamped). No antialiasing, exactly as Keras' default. ``dtype``:
    the images' (default ``floatx``).
    """
    scale = in_size / out_size
    rows = np.arange(out_size)
    r = np.zeros((out_size, in_size), dtype=np.float64)
    if interpolation == "nearest":
        src = np.minimum(np.floor((rows + 0.5) * scale).astype(int), in_size - 1)
        r[rows, src] = 1.0
    else:
        pos = (rows + 0.5) * scale - 0.5
        base = np.floor(pos)
        lerp = pos - base
        lower = np.clip(base.astype(int), 0, in_size - 1)
        upper = np.clip(np.ceil(pos).astype(int), 0, in_size - 1)
        np.add.at(r, (rows, lower), 1.0 - lerp)
        np.add.at(r, (rows, upper), lerp)
    return xp.asarray(r.astype(dtype or backend.floatx()))


class Resizing(Layer):
    """Resize images (N, H, W, C) to (N, height, width, C), in training and inference.

    Written as two matrix products, ``R_h @ image @ R_wᵀ`` per channel, so it
    is differentiable with the ops minicnn already has.
    ``crop_to_aspect_ratio=True`` first takes the largest centred crop with the
    target's aspect ratio (no distortion), as Keras does.
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)
        self.interpolation = one_of(interpolation, INTERPOLATIONS, "interpolation", f"Resizing '{self.name}'")
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        _, h, w, _ = inputs.shape
        if self.crop_to_aspect_ratio:
            ch = min(h, int(round(w * self.height / self.width)))
            cw = min(w, int(round(h * self.width / self.height)))
            top, left = (h - ch) // 2, (w - cw) // 2
            inputs = math_ops.getitem(inputs, (slice(None), slice(top, top + ch), slice(left, left + cw)))
            h, w = ch, cw
        rh, rw_t = self._matrices(h, w, inputs.data)
        x = math_ops.transpose(inputs, (0, 3, 1, 2))          # N, C, H, W
        x = math_ops.matmul(x, rw_t)                          # N, C, H, width
        x = math_ops.matmul(rh, x)                            # N, C, height, width
        return math_ops.transpose(x, (0, 2, 3, 1))

    def _matrices(self, h, w, data):
        """(R_h, R_wᵀ) for an h x w input, in the images' dtype and on their device,
        built once per input size instead of at every call (on a GPU, a host
        computation and two copies per step)."""
        xp = backend.get_array_module(data)
        key = (h, w, str(data.dtype), xp.__name__)
        cache = self.__dict__.setdefault("_matrix_cache", {})
        if key not in cache:
            cache[key] = (Tensor(resize_matrix(h, self.height, self.interpolation, xp, data.dtype)),
                          Tensor(xp.ascontiguousarray(resize_matrix(w, self.width, self.interpolation, xp,
                                                                    data.dtype).T)))
        return cache[key]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio}


# -- affine augmentation -------------------------------------------------------------
def _map_coordinates(c, size, fill_mode, xp):
    """Where an out-of-range coordinate reads from (TensorFlow's rules, which
    Keras uses: 'wrap' shifts by whole image sizes, counted in steps of size - 1)."""
    if fill_mode == "reflect":
        c = xp.mod(c, 2 * size)
        c = xp.where(c >= size, 2 * size - 1 - c, c)
    elif fill_mode == "wrap" and size > 1:
        c = xp.where(c < 0, c + size * (xp.trunc(-c / (size - 1)) + 1),
                     xp.where(c > size - 1, c - size * xp.trunc(c / (size - 1)), c))
    if fill_mode == "constant":
        return c
    return xp.clip(c, 0, size - 1)


def affine_transform(images, matrices, interpolation="bilinear", fill_mode="reflect", fill_value=0.0):
    """Sample ``images`` (N, H, W, C) through one affine map per image.

    ``matrices`` is (N, 6): ``[a0, a1, a2, b0, b1, b2]`` sending output (x, y)
    to input (a0·x + a1·y + a2, b0·x + b1·y + b2).
    """
    xp = backend.get_array_module(images)
    n, h, w, c = images.shape
    m = xp.asarray(matrices, dtype=images.dtype).reshape(n, 6, 1, 1)
    ys, xs = xp.meshgrid(xp.arange(h, dtype=images.dtype), xp.arange(w, dtype=images.dtype), indexing="ij")
    x_in = _map_coordinates(m[:, 0] * xs + m[:, 1] * ys + m[:, 2], w, fill_mode, xp)
    y_in = _map_coordinates(m[:, 3] * xs + m[:, 4] * ys + m[:, 5], h, fill_mode, xp)
    flat = images.reshape(n * h * w, c)
    base = (xp.arange(n) * (h * w)).reshape(n, 1, 1)

    def read(yi, xi):
        inside = (yi >= 0) & (yi <= h - 1) & (xi >= 0) & (xi <= w - 1)
        idx = base + xp.clip(yi, 0, h - 1).astype(np.int64) * w + xp.clip(xi, 0, w - 1).astype(np.int64)
        px = flat[idx]
        return xp.where(inside[..., None], px, images.dtype.type(fill_value))

    if interpolation == "nearest":
        def round_half_away(v):  # C's round(), as TensorFlow uses
            return xp.sign(v) * xp.floor(xp.abs(v) + 0.5)

        return read(round_half_away(y_in), round_half_away(x_in))
    y0, x0 = xp.floor(y_in), xp.floor(x_in)
    wy, wx = (y_in - y0)[..., None], (x_in - x0)[..., None]
    top = read(y0, x0) * (1 - wx) + read(y0, x0 + 1) * wx
    bottom = read(y0 + 1, x0) * (1 - wx) + read(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy


def _factor_range(who, factor, name="factor"):
    """A float f means the range (-f, f); a pair (lo, hi) is taken as given."""
    lo, hi = (-factor, factor) if np.isscalar(factor) else tuple(factor)
    if lo > hi:
        raise ValueError(f"{who}: {name} lower bound {lo} is greater than its upper bound {hi}")
    return float(lo), float(hi)


class _RandomAugmentation(Layer):
    """Base: identity at inference; in training, ``augment(images, rng)``."""

    draws_host_random_numbers = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._random = RandomSource(seed)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return Tensor(self.transform_images(inputs.data, self.get_random_transformation(inputs.data)))

    def get_random_transformation(self, images, rng=None) -> dict:
        """Draw this layer's parameters for each image of the batch ``images`` (N, H, W, C),
        from ``rng`` (a ``numpy.random.Generator``) or the layer's own random stream."""
        n, h, w, _ = images.shape
        return self.draw(n, h, w, self._random.generator() if rng is None else rng)

    def draw(self, n, h, w, rng) -> dict:
        raise NotImplementedError

    def transform_images(self, images, transformation):
        """Apply ``transformation`` (from ``get_random_transformation``) to ``images``."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class _AffineAugmentation(_RandomAugmentation):
    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        where = f"{type(self).__name__} '{self.name}'"
        self.fill_mode = one_of(fill_mode, FILL_MODES, "fill_mode", where)
        self.interpolation = one_of(interpolation, INTERPOLATIONS, "interpolation", where)
        self.fill_value = fill_value

    def transform_images(self, images, transformation):
        _, h, w, _ = images.shape
        return affine_transform(images, self.matrices(transformation, h, w), self.interpolation,
                                self.fill_mode, self.fill_value)

    def matrices(self, transformation, h, w) -> np.ndarray:
        """(N, 6) affine maps (see ``affine_transform``) for the drawn parameters."""
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


class RandomFlip(_RandomAugmentation):
    """Mirror each training image with probability 1/2 ('horizontal', 'vertical' or both)."""

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.mode = one_of(mode, self.MODES, "mode", f"RandomFlip '{self.name}'")

    AXES = (("horizontal", 2), ("vertical", 1))

    def draw(self, n, h, w, rng):
        """One coin per image and axis: ``{"horizontal": flags, "vertical": flags}`` (the
        mode's axes only). Keras 3 tosses one coin for both axes in
        'horizontal_and_vertical' (none or both); minicnn one per axis, as Keras 2
        did (see parity/DIFFERENCES.md)."""
        return {name: rng.random(n) < 0.5 for name, _ in self.AXES if name in self.mode}

    def transform_images(self, images, transformation):
        xp = backend.get_array_module(images)
        out = images
        for name, axis in self.AXES:
            if name in transformation:
                flip = xp.asarray(transformation[name]).reshape(-1, 1, 1, 1)
                out = xp.where(flip, xp.flip(out, axis=axis), out)
        return out

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class RandomRotation(_AffineAugmentation):
    """Rotate by a random angle in ``factor`` × 2π (0.1 → up to ±36°) about the centre."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = factor
        self.lower, self.upper = _factor_range("RandomRotation", factor)

    def draw(self, n, h, w, rng):
        """``{"angle": degrees}`` per image, uniform in factor × 360°."""
        return {"angle": rng.uniform(self.lower, self.upper, n) * 360.0}

    def matrices(self, transformation, h, w):
        theta = np.asarray(transformation["angle"], dtype=np.float64) * (math.pi / 180.0)
        cos, sin = np.cos(theta), np.sin(theta)
        cx, cy = (w - 1) / 2, (h - 1) / 2
        # input = R(θ)·(output - centre) + centre
        return np.stack([cos, -sin, cx - cos * cx + sin * cy,
                         sin, cos, cy - sin * cx - cos * cy], axis=1)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_AffineAugmentation):
    """Zoom by 1 + a random amount in ``height_factor`` (negative = zoom in, as Keras).

    ``width_factor=None`` zooms both axes by the same amount (keeps the aspect ratio).
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear",
                 seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.h_range = _factor_range("RandomZoom", height_factor, "height_factor")
        self.w_range = None if width_factor is None else _factor_range("RandomZoom", width_factor, "width_factor")
        if self.h_range[0] < -1 or (self.w_range and self.w_range[0] < -1):
            raise ValueError("RandomZoom: factors must be >= -1 (a zoom of 1 + factor must stay positive)")

    def draw(self, n, h, w, rng):
        """``{"height_zoom", "width_zoom"}`` per image: 1 + a uniform draw from the factor."""
        zy = 1.0 + rng.uniform(*self.h_range, n)
        return {"height_zoom": zy, "width_zoom": zy if self.w_range is None else 1.0 + rng.uniform(*self.w_range, n)}

    def matrices(self, transformation, h, w):
        zy, zx = (np.asarray(transformation[k], dtype=np.float64) for k in ("height_zoom", "width_zoom"))
        zero = np.zeros(len(zy))
        return np.stack([zx, zero, (w - 1) / 2 * (1 - zx), zero, zy, (h - 1) / 2 * (1 - zy)], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomTranslation(_AffineAugmentation):
    """Shift by a random fraction of the height/width (``0.1`` → up to ±10 %)."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear",
                 seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.h_range = _factor_range("RandomTranslation", height_factor, "height_factor")
        self.w_range = _factor_range("RandomTranslation", width_factor, "width_factor")

    def draw(self, n, h, w, rng):
        """``{"translations": (N, 2)}``: the shift (x, y) in pixels, a uniform fraction of
        the width and the height."""
        dy = rng.uniform(*self.h_range, n) * h
        dx = rng.uniform(*self.w_range, n) * w
        return {"translations": np.stack([dx, dy], axis=1)}

    def matrices(self, transformation, h, w):
        dx, dy = np.asarray(transformation["translations"], dtype=np.float64).T
        one, zero = np.ones(len(dx)), np.zeros(len(dx))
        return np.stack([one, zero, -dx, zero, one, -dy], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomContrast(_RandomAugmentation):
    """Scale each image's deviation from its mean (per channel) by a random factor in
    [1 - lower, 1 + upper], then clip to ``value_range`` (Keras' default (0, 255)).

    ``factor=0.2`` means [0.8, 1.2], as Keras documents it (Keras 3.x draws from
    [1, 1.2] for a single number; see parity/DIFFERENCES.md); a pair (lower, upper)
    gives [1 - lower, 1 + upper]. Both bounds lie in [0, 1].
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        lower, upper = (factor, factor) if np.isscalar(factor) else tuple(factor)
        if not 0 <= lower <= 1 or not 0 <= upper <= 1:
            raise ValueError(f"RandomContrast '{self.name}': factor must be a number or a pair of numbers in "
                             f"[0, 1], got {factor!r}")
        self.factor, self.value_range = factor, tuple(value_range)
        self.lower, self.upper = float(lower), float(upper)

    def draw(self, n, h, w, rng):
        """``{"contrast_factor": (N,)}`` uniform in [1 - lower, 1 + upper]."""
        return {"contrast_factor": rng.uniform(1.0 - self.lower, 1.0 + self.upper, n)}

    def transform_images(self, images, transformation):
        xp = backend.get_array_module(images)
        factor = xp.asarray(transformation["contrast_factor"], dtype=images.dtype).reshape(-1, 1, 1, 1)
        mean = images.mean(axis=(1, 2), keepdims=True)
        return xp.clip((images - mean) * factor + mean, *self.value_range).astype(images.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}
