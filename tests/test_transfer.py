"""Transfer learning: applications, pretrained weights, freezing, fine-tuning, graphs.

Parameter counts here are Keras' own numbers (parity/test_layers_transfer.py
recomputes them with keras.applications); feature equality with Keras on the
real MobileNet weights is in the parity suite too.
"""
from __future__ import annotations

import runpy
from pathlib import Path

import h5py
import numpy as np
import pytest

import minicnn as mc
from minicnn import applications, layers

ROOT = Path(__file__).resolve().parents[1]
MOBILENET = ROOT / "data" / "weights" / "mobilenet_1_0_25_224_tf_no_top.h5"
SQUEEZENET = ROOT / "data" / "weights" / "squeezenet_v1.1_notop.h5"


@pytest.mark.parametrize("build, total", [
    (lambda: applications.VGG16(include_top=False), 14_714_688),
    (lambda: applications.ResNet50V2(include_top=False), 23_564_800),
    (lambda: applications.MobileNetV2(include_top=False), 2_257_984),
    (lambda: applications.MobileNet(alpha=0.25, include_top=False), 218_544),
    (lambda: applications.MobileNet(alpha=0.5, include_top=False, input_shape=(128, 128, 3)), 829_536),
    (lambda: applications.Xception(include_top=False), 20_861_480),
    (lambda: applications.SqueezeNet(include_top=False), 722_496),
    (lambda: applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3)), 1_691_208),
])
def test_application_parameter_counts(build, total):
    assert build().count_params() == total


def test_mobilenet_loads_the_keras_file_by_layer_name():
    model = applications.MobileNet(input_shape=(64, 64, 3), alpha=0.25, include_top=False, weights=MOBILENET)
    with h5py.File(MOBILENET, "r") as f:
        np.testing.assert_array_equal(model.get_layer("conv_dw_3").get_weights()[0],
                                      f["conv_dw_3/conv_dw_3/depthwise_kernel:0"][()])
        np.testing.assert_array_equal(model.get_layer("conv_pw_13_bn").get_weights()[3],
                                      f["conv_pw_13_bn/conv_pw_13_bn/moving_variance:0"][()])
    assert model.output_shape == (None, 2, 2, 256)
    assert model.get_layer("conv1_bn").non_trainable_weights[0].name == "moving_mean"


def test_squeezenet_loads_the_keras2_file_and_extracts_features():
    model = applications.SqueezeNet(input_shape=(64, 64, 3), include_top=False, weights=SQUEEZENET, pooling="avg")
    with h5py.File(SQUEEZENET, "r") as f:
        np.testing.assert_array_equal(model.get_layer("fire9/expand3x3").get_weights()[0],
                                      f["fire9/expand3x3/uniform25"][()])
    x = applications.squeezenet.preprocess_input(np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)))
    feats = mc.utils.extract_features(model, x, batch_size=2)
    assert feats.shape == (3, 512) and feats.dtype == np.float32 and (feats >= 0).all() and feats.std() > 0


def test_a_file_that_does_not_fit_changes_nothing():
    model = applications.MobileNet(input_shape=(64, 64, 3), alpha=0.5, include_top=False)
    before = model.get_weights()
    with pytest.raises(ValueError, match="conv1.*has shape .* but the file holds shape.*Nothing was changed"):
        applications._common.load_weight_file(model, MOBILENET)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="does not have"):
        applications._common.load_weight_file(applications.VGG16(include_top=False, input_shape=(32, 32, 3)),
                                              MOBILENET)
    with pytest.raises(ValueError, match="download"):
        applications.MobileNet(weights="imagenet")


def test_preprocess_input_modes():
    x = np.array([[[[0.0, 127.5, 255.0]]]])
    np.testing.assert_allclose(applications.mobilenet.preprocess_input(x), [[[[-1.0, 0.0, 1.0]]]])
    np.testing.assert_allclose(applications.vgg16.preprocess_input(x),
                               [[[[255 - 103.939, 127.5 - 116.779, 0 - 123.68]]]], rtol=1e-6)
    inp = mc.Input((1, 1, 3))  # symbolic, as in Keras' transfer-learning tutorial
    model = mc.Model(inp, applications.resnet_v2.preprocess_input(inp))
    np.testing.assert_allclose(model.predict(x), [[[[-1.0, 0.0, 1.0]]]])


def test_seed_resnet34_runs_unchanged_with_keras_count():
    """Géron's ResidualUnit/ResNet-34 (custom Layer, activations.get, tensor +, input_shape=,
    MaxPool2D/GlobalAvgPool2D aliases); Keras counts 21,306,826 (21,289,802 trainable)."""
    model = runpy.run_path(str(ROOT / "tests" / "seed_resnet34.py"))["model"]
    assert model.count_params() == 21_306_826
    assert sum(w.size for w in model.trainable_weights) == 21_289_802
    unit = model.layers[4]
    assert type(unit).__name__ == "ResidualUnit" and len(unit.weights) == 10  # 2 convs + 2 BNs (4 each)
    assert unit.output_shape == (None, 56, 56, 64)


def _small_base():
    inp = mc.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", use_bias=False, name="c1")(inp)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU(6.0)(x)
    y = layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = layers.Add()([x, y])  # a branch and a merge
    x = layers.Concatenate()([x, layers.Conv2D(2, 1, name="c2")(x)])
    return mc.Model(inp, x, name="base")


def test_frozen_nested_model_gets_no_gradients_and_summary_splits_like_keras():
    base = _small_base()
    base.trainable = False
    inp = mc.Input((8, 8, 3))
    x = base(inp, training=False)
    out = layers.Dense(1)(layers.GlobalAveragePooling2D()(x))
    model = mc.Model(inp, out)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    base_params = base.count_params()
    assert base_params == 108 + 16 + 40 + 10
    assert f"Total params: {base_params + 7:,}" in text
    assert "Trainable params: 7 (" in text and f"Non-trainable params: {base_params:,}" in text
    model.compile(optimizer="adam", loss=mc.losses.BinaryCrossentropy(from_logits=True))
    before = base.get_weights()
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((16, 8, 8, 3)), rng.integers(0, 2, (16, 1)), epochs=2, batch_size=8, verbose=0)
    for a, b in zip(before, base.get_weights()):
        np.testing.assert_array_equal(a, b)  # weights and BN statistics untouched
    assert len(model.trainable_weights) == 2


def test_fine_tune_flow_unfreezes_above_fine_tune_at_and_continues_epochs():
    base = _small_base()
    base.trainable = False
    inp = mc.Input((8, 8, 3))
    out = layers.Dense(1)(layers.GlobalAveragePooling2D()(base(inp, training=False)))
    model = mc.Model(inp, out)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 8, 8, 3)), rng.integers(0, 2, (16, 1))
    model.compile(optimizer=mc.optimizers.Adam(1e-3), loss=mc.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    base.trainable = True
    fine_tune_at = 3  # freeze InputLayer, c1, bn1
    for layer in base.layers[:fine_tune_at]:
        layer.trainable = False
    model.compile(optimizer=mc.optimizers.RMSprop(1e-4), loss=mc.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    frozen = base.get_layer("c1").get_weights()[0].copy()
    dw = base.get_layer("dw").get_weights()[0].copy()
    fine = model.fit(x, y, epochs=4, initial_epoch=history.epoch[-1] + 1, batch_size=8, verbose=0)
    assert fine.epoch == [2, 3]
    np.testing.assert_array_equal(base.get_layer("c1").get_weights()[0], frozen)
    assert not np.array_equal(base.get_layer("dw").get_weights()[0], dw)
    names = {w.name for w in model.trainable_weights}
    assert "depthwise_kernel" in names and "moving_mean" not in names


def test_application_inside_a_subclassed_model():
    class Classifier(mc.Model):
        def __init__(self):
            super().__init__()
            self.base = applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, include_top=False,
                                               weights=MOBILENET)
            self.base.trainable = False
            self.pool = layers.GlobalAveragePooling2D()
            self.out = layers.Dense(10, activation="softmax")

        def call(self, inputs, training=None):
            return self.out(self.pool(self.base(inputs, training=False)))

    model = Classifier()
    model.build((None, 32, 32, 3))
    assert model.count_params() == 218_544 + 2_570
    assert sum(w.size for w in model.trainable_weights) == 2_570
    assert model.predict(np.zeros((2, 32, 32, 3))).shape == (2, 10)


def test_extract_features_equals_predict_for_arrays_and_datasets(tmp_path):
    base = _small_base()
    x = np.random.default_rng(2).uniform(0, 255, (5, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(mc.utils.extract_features(base, x, batch_size=2), base.predict(x), rtol=1e-6)
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(x[i].astype("uint8")).save(tmp_path / label / f"{i}.png")
    ds = mc.utils.image_dataset_from_directory(tmp_path, image_size=(8, 8), batch_size=4, shuffle=False)
    feats, labels = mc.utils.extract_features(base, ds)
    assert feats.shape == (6, 8, 8, 6) and labels.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(feats[:3], base.predict(x[:3].astype("uint8").astype("float32")), rtol=1e-5)


def test_binary_seed004_flow_from_image_folders(tmp_path):
    """Two real CIFAR-10 classes (automobile vs frog) written to folders, read back with
    image_dataset_from_directory, one-logit head on frozen MobileNet-0.25, then fine-tuning."""
    from PIL import Image

    (x_train, y_train), _ = mc.datasets.cifar10.load_data()
    for label, name in ((1, "automobile"), (6, "frog")):
        folder = tmp_path / name
        folder.mkdir()
        for i, image in enumerate(x_train[y_train.ravel() == label][:64]):
            Image.fromarray(image).save(folder / f"{i}.png")
    train_ds, val_ds = mc.utils.image_dataset_from_directory(
        tmp_path, validation_split=0.25, subset="both", seed=1, image_size=(64, 64), batch_size=16,
        label_mode="binary")
    base = applications.MobileNet(input_shape=(64, 64, 3), alpha=0.25, include_top=False, weights=MOBILENET)
    base.trainable = False
    inputs = mc.Input((64, 64, 3))
    x = applications.mobilenet.preprocess_input(inputs)
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(1)(x)
    model = mc.Model(inputs, outputs)
    model.compile(optimizer=mc.optimizers.Adam(1e-2), loss=mc.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(train_ds, epochs=3, validation_data=val_ds, verbose=0)
    assert history.history["val_accuracy"][-1] >= 0.8
    base.trainable = True
    for layer in base.layers[:80]:
        layer.trainable = False
    model.compile(optimizer=mc.optimizers.RMSprop(1e-4), loss=mc.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    fine = model.fit(train_ds, epochs=4, initial_epoch=history.epoch[-1] + 1, validation_data=val_ds, verbose=0)
    assert fine.epoch == [3] and fine.history["val_accuracy"][-1] >= 0.8
