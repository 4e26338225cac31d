"""Preprocessing/augmentation layers: statistics, training-only behaviour, Keras' numbers."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn as mc
from minicnn.layers.preprocessing import affine_transform, resize_matrix

L = mc.layers
RNG = np.random.default_rng(0)
IMAGES = RNG.random((64, 12, 10, 3)).astype("float32")


def _run(layer, x, training):
    return layer(x, training=training).data


@pytest.mark.parametrize("layer", [L.RandomFlip(), L.RandomRotation(0.2), L.RandomZoom(0.3),
                                   L.RandomTranslation(0.2, 0.2)])
def test_random_layers_change_images_only_in_training(layer):
    np.testing.assert_array_equal(_run(layer, IMAGES, False), IMAGES)
    out = _run(layer, IMAGES, True)
    assert out.shape == IMAGES.shape and not np.allclose(out, IMAGES)
    model = mc.Sequential([mc.Input((12, 10, 3)), layer])
    np.testing.assert_array_equal(model.predict(IMAGES), IMAGES)  # predict = inference


def test_random_flip_flips_about_half_of_the_images_exactly():
    out = _run(L.RandomFlip("horizontal"), IMAGES, True)
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, IMAGES)]
    kept = [np.array_equal(o, i) for o, i in zip(out, IMAGES)]
    assert all(f or k for f, k in zip(flipped, kept)) and 16 <= sum(flipped) <= 48
    both = _run(L.RandomFlip("horizontal_and_vertical"), IMAGES, True)
    assert any(np.array_equal(o, i[::-1, ::-1]) for o, i in zip(both, IMAGES))
    with pytest.raises(ValueError, match="mode"):
        L.RandomFlip("diagonal")


def test_translation_shifts_within_the_factor_and_keeps_the_mean():
    ramp = np.tile(np.arange(40, dtype="float32"), (200, 40, 1))[..., None]  # value = column index
    out = _run(L.RandomTranslation(0.0, 0.1, fill_mode="nearest", interpolation="nearest"), ramp, True)
    shifts = ramp[:, 20, 20, 0] - out[:, 20, 20, 0]
    assert np.abs(shifts).max() <= 4 and len(np.unique(shifts)) > 4  # up to 10 % of 40 pixels
    assert abs(shifts.mean()) < 1.0  # symmetric range


def test_rotation_keeps_a_rotation_invariant_image_and_angles_stay_in_range():
    y, x = np.mgrid[0:21, 0:21] - 10.0
    disc = (np.hypot(x, y) <= 6).astype("float32")[None, :, :, None].repeat(8, axis=0)
    out = _run(L.RandomRotation(0.5, fill_mode="constant"), disc, True)
    assert np.abs(out - disc).mean() < 0.03  # a disc looks the same at any angle
    layer = L.RandomRotation((0.25, 0.25), interpolation="nearest")  # exactly +90°
    square = RNG.random((1, 9, 9, 1)).astype("float32")
    rotated = _run(layer, square, True)[0, :, :, 0]
    assert any(np.allclose(rotated, np.rot90(square[0, :, :, 0], k)) for k in (1, 3))


def test_zoom_in_and_out_as_keras_defines_them():
    y, x = np.mgrid[0:31, 0:31] - 15.0
    spot = (np.hypot(x, y) <= 5).astype("float32")[None, :, :, None].repeat(4, axis=0)
    zoom_in = _run(L.RandomZoom((-0.5, -0.5), fill_mode="constant"), spot, True)
    zoom_out = _run(L.RandomZoom((0.5, 0.5), fill_mode="constant"), spot, True)
    assert zoom_in.sum() > 3 * spot.sum() and zoom_out.sum() < spot.sum() / 2  # area ∝ 1 / zoom²
    with pytest.raises(ValueError, match="lower bound"):
        L.RandomZoom((0.3, -0.3))


def test_augmentation_is_repeatable_with_set_random_seed_or_seed():
    layer = L.RandomRotation(0.3)
    mc.utils.set_random_seed(5)
    a = _run(layer, IMAGES, True)
    mc.utils.set_random_seed(5)
    np.testing.assert_array_equal(a, _run(layer, IMAGES, True))
    np.testing.assert_array_equal(_run(L.RandomZoom(0.2, seed=3), IMAGES, True),
                                  _run(L.RandomZoom(0.2, seed=3), IMAGES, True))


def test_rescaling_always_applies_and_passes_gradients():
    layer = L.Rescaling(1 / 127.5, offset=-1)
    x = mc.Tensor(np.array([[0.0, 127.5, 255.0]], dtype="float32"), requires_grad=True)
    out = layer(x, training=False)
    np.testing.assert_allclose(out.data, [[-1, 0, 1]], atol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, np.full((1, 3), 1 / 127.5), rtol=1e-6)


def test_resizing_matches_a_hand_computed_bilinear_case_and_runs_at_inference():
    row = np.array([0.0, 10.0, 20.0, 30.0], dtype="float32")
    # 4 -> 2 pixels: half-pixel centres sit at 0.5 and 2.5, i.e. mean of each pair
    np.testing.assert_allclose(resize_matrix(4, 2) @ row, [5.0, 25.0])
    # 2 -> 4: centres at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
    np.testing.assert_allclose(resize_matrix(2, 4) @ row[:2], [0.0, 2.5, 7.5, 10.0])
    layer = L.Resizing(6, 5)
    assert _run(layer, IMAGES, False).shape == (64, 6, 5, 3) == _run(layer, IMAGES, True).shape
    x = mc.Tensor(IMAGES[:2], requires_grad=True)
    layer(x).sum().backward()
    assert x.grad.shape == IMAGES[:2].shape and np.isclose(x.grad.sum(), 2 * 6 * 5 * 3, rtol=1e-4)
    with pytest.raises(ValueError, match="expected input of shape"):
        layer(np.zeros((3, 4), dtype="float32"))


def test_matches_keras_and_tensorflow_numbers():
    tf = pytest.importorskip("tensorflow")
    x = RNG.random((2, 7, 9, 3)).astype("float32")
    for size, interp in [((13, 5), "bilinear"), ((3, 17), "bilinear"), ((4, 4), "nearest")]:
        ref = tf.keras.layers.Resizing(*size, interpolation=interp)(x).numpy()
        np.testing.assert_allclose(L.Resizing(*size, interpolation=interp)(x).data, ref, atol=1e-5)
    ref = tf.keras.layers.Resizing(5, 5, crop_to_aspect_ratio=True)(x).numpy()
    np.testing.assert_allclose(L.Resizing(5, 5, crop_to_aspect_ratio=True)(x).data, ref, atol=1e-5)
    m = np.array([[0.9, -0.3, 1.7, 0.25, 1.1, -2.3], [1, 0, -3.5, 0, 1, 2.2]], dtype="float32")
    for fill in ("reflect", "wrap", "constant", "nearest"):
        for interp in ("bilinear", "nearest"):
            ref = tf.raw_ops.ImageProjectiveTransformV3(
                images=x, transforms=np.concatenate([m, np.zeros((2, 2), "float32")], 1), output_shape=[7, 9],
                fill_value=0.5, interpolation=interp.upper(), fill_mode=fill.upper()).numpy()
            np.testing.assert_allclose(affine_transform(x, m, interp, fill, 0.5), ref, atol=1e-5,
                                       err_msg=f"{fill}/{interp}")


def test_resizing_builds_its_matrices_once_per_size_in_the_images_dtype():
    layer = mc.layers.Resizing(4, 6)
    for dtype in (np.float32, np.float64):
        x = np.random.default_rng(0).random((2, 8, 3, 1)).astype(dtype)
        first = layer(x)
        rh, rw_t = layer._matrices(8, 3, x)
        assert rh.dtype == dtype and rw_t.dtype == dtype
        assert layer._matrices(8, 3, x)[0] is rh  # reused, not rebuilt
        np.testing.assert_array_equal(layer(x).numpy(), first.numpy())
        expected = np.einsum("ih,nhwc,jw->nijc", resize_matrix(8, 4, dtype=dtype), x, resize_matrix(3, 6, dtype=dtype))
        np.testing.assert_allclose(first.numpy(), expected, rtol=1e-6)


def test_random_contrast_scales_deviations_from_each_channels_mean_and_clips():
    x = np.array([10.0, 20.0, 30.0, 40.0], "float32").reshape(1, 2, 2, 1)  # mean 25
    layer = mc.layers.RandomContrast(0.5, value_range=(0, 45))
    out = layer.transform_images(x, {"contrast_factor": np.array([2.0])})
    np.testing.assert_array_equal(out.ravel(), [0.0, 15.0, 35.0, 45.0])  # -5 and 55 clipped
    np.testing.assert_array_equal(layer(x).numpy(), x)  # inference: untouched
    drawn = layer.get_random_transformation(np.zeros((500, 2, 2, 1), "float32"), np.random.default_rng(0))
    assert 0.5 <= drawn["contrast_factor"].min() < 0.55 and 1.45 < drawn["contrast_factor"].max() <= 1.5


@pytest.mark.parametrize("factor", [1.5, -0.1, (0.2, 1.2)])
def test_random_contrast_factor_must_lie_in_0_1(factor):
    with pytest.raises(ValueError, match=r"RandomContrast '.*': factor must be a number or a pair of numbers in "
                                         r"\[0, 1\], got"):
        mc.layers.RandomContrast(factor)


def test_augmentations_draw_readable_parameters_and_apply_given_ones():
    x = np.arange(6, dtype="float32").reshape(1, 2, 3, 1)
    flip = mc.layers.RandomFlip("horizontal")
    assert set(flip.get_random_transformation(x)) == {"horizontal"}
    np.testing.assert_array_equal(flip.transform_images(x, {"horizontal": [True]}), x[:, :, ::-1])
    shift = mc.layers.RandomTranslation(0.0, 0.5, fill_mode="constant")
    np.testing.assert_array_equal(shift.transform_images(x, {"translations": [[1.0, 0.0]]}).ravel(),
                                  [0, 0, 1, 0, 3, 4])  # one pixel to the right
    rotation = mc.layers.RandomRotation(0.5, interpolation="nearest")
    np.testing.assert_allclose(rotation.transform_images(x, {"angle": [180.0]}), x[:, ::-1, ::-1], atol=1e-6)
