"""Models with several outputs train with a loss each, as in Keras.

The same two-output functional model (a softmax head 'cls', a linear head
'reg') is built in minicnn and in Keras from the same weights and trained on
the same batches (SGD, no shuffling): every log of every epoch (the weighted
total 'loss', 'cls_loss', 'reg_loss', 'cls_accuracy', 'reg_mae'), the trained
weights, evaluate's list (Keras' order) and predict's list agree to float32
rounding, with the targets, losses, loss weights and metrics given as lists or
dicts by output name, and with sample weights.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import interop
from minicnn.io import checkpoint
from minicnn.models import load_model

keras = pytest.importorskip("keras")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((24, 5)).astype("float32")
YC = RNG.integers(0, 3, 24)
YR = RNG.standard_normal((24, 2)).astype("float32")
SW = RNG.uniform(0.2, 2.0, 24)


def two_output_model(lib, outputs=("cls", "reg")):
    x = lib.Input((5,), name="x")
    hidden = lib.layers.Dense(6, activation="relu")(x)
    heads = {"cls": lib.layers.Dense(3, activation="softmax", name="cls")(hidden),
             "reg": lib.layers.Dense(2, name="reg")(hidden),
             "aux": lib.layers.Dense(2, name="aux")(hidden)}
    return lib.Model(x, [heads[name] for name in outputs])


def compiled_pair(**compile_args):
    theirs = two_output_model(keras)
    ours = two_output_model(mc)
    ours.set_weights(theirs.get_weights())
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False, **compile_args)
    ours.compile(optimizer=mc.optimizers.SGD(0.1), **compile_args)
    return ours, theirs


def assert_trained_alike(ours, theirs, h_ours, h_theirs, keys):
    assert set(h_ours.history) == set(h_theirs.history) == keys
    for key in keys:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=2e-6, atol=1e-7, err_msg=key)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_lists_of_losses_weights_and_metrics_train_like_keras():
    args = dict(loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                metrics=[["accuracy"], ["mae"]])
    ours, theirs = compiled_pair(**args)
    fit = dict(batch_size=8, epochs=3, shuffle=False, verbose=0)
    h_ours, h_theirs = ours.fit(X, [YC, YR], **fit), theirs.fit(X, [YC, YR], **fit)
    assert_trained_alike(ours, theirs, h_ours, h_theirs, {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"})
    # the total is the weighted sum of the per-output losses (each epoch's running means)
    h = h_ours.history
    np.testing.assert_allclose(h["loss"], np.add(h["cls_loss"], np.multiply(0.5, h["reg_loss"])), rtol=1e-6)
    # evaluate: [loss, cls_loss, reg_loss, cls_accuracy, reg_mae], Keras' order
    mine, want = ours.evaluate(X, [YC, YR], verbose=0), theirs.evaluate(X, [YC, YR], verbose=0)
    assert len(mine) == 5
    np.testing.assert_allclose(mine, want, rtol=1e-5, atol=1e-7)
    assert list(ours.evaluate(X, [YC, YR], verbose=0, return_dict=True)) == [m.name for m in ours.metrics]
    # predict returns one array per output, in output order
    got = ours.predict(X)
    assert isinstance(got, list) and [a.shape for a in got] == [(24, 3), (24, 2)]
    for a, b in zip(got, theirs.predict(X, verbose=0), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(ours.predict_on_batch(X[:4]), got, strict=True):
        np.testing.assert_allclose(a, b[:4], rtol=1e-6)


def test_dicts_by_output_name_and_sample_weights_train_like_keras():
    args = dict(loss={"reg": "mae", "cls": "sparse_categorical_crossentropy"}, loss_weights={"cls": 2.0, "reg": 0.25},
                metrics={"cls": "accuracy"})
    ours, theirs = compiled_pair(**args)
    fit = dict(batch_size=8, epochs=3, shuffle=False, verbose=0, sample_weight=SW)
    h_ours, h_theirs = ours.fit(X, {"reg": YR, "cls": YC}, **fit), theirs.fit(X, [YC, YR], **fit)
    assert_trained_alike(ours, theirs, h_ours, h_theirs, {"loss", "cls_loss", "reg_loss", "cls_accuracy"})
    np.testing.assert_allclose(ours.evaluate(X, {"cls": YC, "reg": YR}, sample_weight=SW, verbose=0),
                               theirs.evaluate(X, [YC, YR], sample_weight=SW, verbose=0), rtol=1e-5, atol=1e-7)


def test_sample_weights_and_weighted_metrics_per_output_train_like_keras():
    """Each output its own sample weights (a dict here, a list for Keras) and weighted
    metrics; a weighted metric whose name a plain one has is '{output}_weighted_{name}'."""
    args = dict(loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                metrics={"cls": ["accuracy"]}, weighted_metrics={"cls": ["accuracy"], "reg": ["mae"]})
    ours, theirs = compiled_pair(**args)
    reg_weights = RNG.uniform(0.0, 3.0, 24)
    fit = dict(batch_size=8, epochs=3, shuffle=False, verbose=0)
    h_ours = ours.fit(X, [YC, YR], sample_weight={"cls": SW, "reg": reg_weights}, **fit)
    h_theirs = theirs.fit(X, [YC, YR], sample_weight=[SW, reg_weights], **fit)
    assert_trained_alike(ours, theirs, h_ours, h_theirs,
                         {"loss", "cls_loss", "reg_loss", "cls_accuracy", "cls_weighted_accuracy", "reg_mae"})
    assert h_ours.history["cls_accuracy"] != h_ours.history["cls_weighted_accuracy"]
    np.testing.assert_allclose(ours.evaluate(X, [YC, YR], sample_weight=[SW, None], verbose=0),
                               theirs.evaluate(X, [YC, YR], sample_weight=[SW, np.ones(24)], verbose=0),
                               rtol=1e-5, atol=1e-7)
    # with validation_split, each output's weights are split with the samples
    ours.fit(X, [YC, YR], sample_weight=[SW, reg_weights], validation_split=0.25, epochs=1, verbose=0)


def test_per_output_sample_weights_are_checked_and_name_the_output():
    model = two_output_model(mc)
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    with pytest.raises(ValueError, match=r"fit: sample_weight of output 'reg' must have one weight per sample, "
                                         r"shape \(24,\), got \(20,\)"):
        model.fit(X, [YC, YR], sample_weight={"reg": SW[:20]}, verbose=0)
    with pytest.raises(ValueError, match=r"fit: sample_weight's keys must be output names \['cls', 'reg'\] .*"
                                         r"unexpected \['aux'\]"):
        model.fit(X, [YC, YR], sample_weight={"aux": SW}, verbose=0)
    with pytest.raises(ValueError, match=r"so a list of sample weights must hold 2 .* got 3"):
        model.fit(X, [YC, YR], sample_weight=[SW, SW, SW], verbose=0)
    single = mc.Sequential([mc.Input((5,)), mc.layers.Dense(3, activation="softmax")])
    single.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"fit: sample_weight per output .* needs a model with several outputs"):
        single.fit(X, YC, sample_weight=[SW, SW], verbose=0)
    single.fit(X, YC, sample_weight=list(SW), epochs=1, verbose=0)  # a list of numbers: one weight per sample


def test_one_loss_for_every_output_and_metrics_listed_by_name_like_keras():
    """A single loss applies to each output; evaluate lists the metrics by name, as Keras does
    (here output 'reg' comes first, yet 'aux_mae' is listed before 'reg_mae')."""
    theirs = two_output_model(keras, ("reg", "aux"))
    ours = two_output_model(mc, ("reg", "aux"))
    ours.set_weights(theirs.get_weights())
    args = dict(loss="mse", metrics=["mae", ["mae", "mse"]])
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False, **args)
    ours.compile(optimizer=mc.optimizers.SGD(0.1), **args)
    y_aux = YR[:, ::-1] * 2
    fit = dict(batch_size=6, epochs=2, shuffle=False, verbose=0, validation_split=0.25)  # full batches: see below
    h_ours, h_theirs = ours.fit(X, [YR, y_aux], **fit), theirs.fit(X, [YR, y_aux], **fit)
    names = {"loss", "reg_loss", "aux_loss", "reg_mae", "aux_mae", "aux_mse"}
    assert_trained_alike(ours, theirs, h_ours, h_theirs, names | {f"val_{n}" for n in names})
    mine, want = ours.evaluate(X, (YR, y_aux), verbose=0), theirs.evaluate(X, [YR, y_aux], verbose=0)
    np.testing.assert_allclose(mine, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(mine[3], ours.evaluate(X, [YR, y_aux], verbose=0, return_dict=True)["aux_mae"])


def test_each_outputs_loss_is_weighted_by_batch_size_so_the_losses_add_up():
    """A smaller last batch counts by its size in every running loss, so 'loss' is exactly
    Σ wᵢ·'{output}_loss'. Keras on TensorFlow averages each output's loss over the batches
    unweighted (inside its traced step the batch size is unknown), so there the per-output
    losses of an epoch with a smaller last batch do not add up to its 'loss'."""
    model = two_output_model(mc)
    model.compile(optimizer=mc.optimizers.SGD(0.1), loss=["sparse_categorical_crossentropy", "mse"],
                  loss_weights=[1.0, 0.5])
    h = model.fit(X[:18], [YC[:18], YR[:18]], batch_size=8, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h["loss"], np.add(h["cls_loss"], np.multiply(0.5, h["reg_loss"])), rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Gradients do not exist:UserWarning")  # Keras' note on the untrained head
def test_an_output_without_a_loss_is_not_trained_like_keras():
    ours, theirs = compiled_pair(loss=["sparse_categorical_crossentropy", None])
    fit = dict(batch_size=8, epochs=2, shuffle=False, verbose=0)
    reg_before = ours.get_layer("reg").get_weights()
    h_ours, h_theirs = ours.fit(X, [YC, None], **fit), theirs.fit(X, [YC, YR], **fit)
    assert_trained_alike(ours, theirs, h_ours, h_theirs, {"loss"})  # one loss: no per-output entries, as Keras
    for a, b in zip(ours.get_layer("reg").get_weights(), reg_before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_mismatched_structures_are_clear_errors_naming_the_outputs():
    three = two_output_model(mc, ("cls", "reg", "aux"))
    with pytest.raises(ValueError, match=r"model '\w+' has 3 outputs \['cls', 'reg', 'aux'\], so loss must be a "
                                         r"list of 3 \(one per output, in that order\) or a dict by output name; "
                                         r"got a list of 2"):
        three.compile(loss=["sparse_categorical_crossentropy", "mse"])
    with pytest.raises(ValueError, match=r"loss_weights must be a list of 3 .*got a list of 2"):
        three.compile(loss="mse", loss_weights=[1.0, 0.5])
    with pytest.raises(ValueError, match=r"loss's keys must be the output names \['cls', 'reg', 'aux'\] of model "
                                         r"'\w+'; missing \['aux'\], unexpected \['out'\]"):
        three.compile(loss={"cls": "mse", "reg": "mse", "out": "mse"})
    with pytest.raises(ValueError, match=r"so metrics must be a list with one entry per output .* got \['mae'\]"):
        three.compile(loss="mse", metrics=["mae"])  # as in Keras: a flat list must have one entry per output
    with pytest.raises(ValueError, match=r"metrics' keys must be output names .*; unexpected \['out'\]"):
        three.compile(loss="mse", metrics={"out": "mae"})
    with pytest.raises(ValueError, match="the loss weight of output 'reg' must be a number, got 'x'"):
        three.compile(loss="mse", loss_weights={"cls": 1.0, "reg": "x", "aux": 1.0})
    three.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse", "mse"])
    with pytest.raises(ValueError, match=r"fit: model '\w+' has 3 outputs \['cls', 'reg', 'aux'\], so y must be "
                                         r"a list of 3 target arrays .* got a list of 2"):
        three.fit(X, [YC, YR], verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: model .* got an array of shape \(24,\)"):
        three.evaluate(X, YC, verbose=0)
    with pytest.raises(ValueError, match=r"fit: the targets' keys must be the output names \['cls', 'reg', 'aux'\] "
                                         r"of model '\w+'; missing \['aux'\], unexpected \['other'\]"):
        three.fit(X, {"cls": YC, "reg": YR, "other": YR}, verbose=0)
    with pytest.raises(ValueError, match=r"fit: x and the target of output 'reg' must have the same number of "
                                         r"samples, got x with 24 and 'reg' with 20"):
        three.fit(X, [YC, YR[:20], YR], verbose=0)
    with pytest.raises(ValueError, match=r"fit: class_weight is only supported for a model with a single output"):
        three.fit(X, [YC, YR, YR], class_weight={0: 1.0, 1: 2.0, 2: 1.0}, verbose=0)
    with pytest.raises(ValueError, match=r"output 'cls' of model '\w+': sparse_categorical_crossentropy: labels "
                                         r"must be in \[0, 3\)"):
        three.fit(X, [YC + 3, YR, YR], verbose=0)
    with pytest.raises(ValueError, match=r"output 'reg' of model '\w+': mean_squared_error: y_true has shape "
                                         r"\(8, 3\) but y_pred has shape \(8, 2\)"):
        three.fit(iter([(X[:8], [YC[:8], np.zeros((8, 3)), YR[:8]])]), epochs=1, verbose=0)


def test_a_single_output_model_keeps_its_names_and_refuses_what_needs_several_outputs():
    model = mc.Sequential([mc.Input((5,)), mc.layers.Dense(3, activation="softmax", name="cls")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert model._output_losses is None  # the single-output path (and the GPU's captured step) as before
    assert set(model.fit(X, YC, epochs=1, verbose=0).history) == {"loss", "accuracy"}
    loss, accuracy = model.evaluate(X, YC, verbose=0)
    model.compile(optimizer="sgd", loss={model.output_names[0]: "sparse_categorical_crossentropy"},
                  metrics=["accuracy"])  # a dict or list of one loss is that loss, as in Keras
    assert model.evaluate(X, YC, verbose=0) == [loss, accuracy]
    with pytest.raises(ValueError, match=r"compile\(\): loss_weights needs a functional model with several outputs"):
        model.compile(loss="mse", loss_weights=[0.5])
    with pytest.raises(ValueError, match=r"a list of losses needs .* has one output named 'cls': give its loss alone"):
        model.compile(loss=["mse", "mse"])

    class Subclassed(mc.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match=r"a list of losses needs .* or a subclassed model whose call\(\) returns a "
                                         r"dict.* 'subclassed' has no named outputs \(it is subclassed\)"):
        Subclassed(name="subclassed").compile(loss=["mse", "mse"])
    one = Subclassed(name="subclassed")
    one.compile(optimizer="sgd", loss={"a": "mse", "b": "mse"})  # names what call() should return
    with pytest.raises(ValueError, match=r"model 'subclassed' was compiled for outputs \['a', 'b'\] \(a dict of "
                                         r"losses\), so its call\(\) must return a dict with those keys; it returned "
                                         r"one output"):
        one.fit(X, {"a": X, "b": X}, verbose=0)


def test_metric_objects_are_copied_named_per_output_and_repeated_names_numbered():
    given = mc.metrics.MeanAbsoluteError(name="err")
    model = two_output_model(mc)
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"],
                  metrics={"reg": [given, "mae", "mae"]})
    assert [m.name for m in model.metrics] == ["loss", "cls_loss", "reg_loss", "reg_err", "reg_mae", "reg_mae_1"]
    logs = model.fit(X, [YC, YR], epochs=1, verbose=0).history
    assert given.name == "err" and given.count == 0  # the user's object is not the model's counter
    assert logs["reg_err"] == logs["reg_mae"] == logs["reg_mae_1"]


def test_a_custom_train_step_and_a_stream_of_dict_targets():
    seen = []

    class Stepper(mc.Model):
        def train_step(self, data):
            seen.append(type(data[1]).__name__)
            return super().train_step(data)

    def build(cls):
        graph = two_output_model(mc)  # its input and outputs, as a model of class cls
        model = cls(graph.inputs[0], graph.outputs)
        model.compile(optimizer=mc.optimizers.SGD(0.1), loss=["sparse_categorical_crossentropy", "mse"],
                      metrics=[["accuracy"], None])
        return model

    custom, built_in = build(Stepper), build(mc.Model)
    built_in.set_weights(custom.get_weights())
    stream = ((X[i:i + 8], {"cls": YC[i:i + 8], "reg": YR[i:i + 8]}) for i in range(0, 24, 8))
    h1 = custom.fit(stream, epochs=1, verbose=0).history
    h2 = built_in.fit(X, [YC, YR], batch_size=8, epochs=1, shuffle=False, verbose=0).history
    assert seen == ["dict"] * 3
    assert h1.keys() == h2.keys() == {"loss", "cls_loss", "reg_loss", "cls_accuracy"}
    for key in h1:
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-6)


def test_a_mid_epoch_checkpoint_keeps_each_outputs_running_loss(tmp_path):
    def build():
        model = two_output_model(mc)
        model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], []])
        return model

    model = build()
    model.fit(X[:8], [YC[:8], YR[:8]], epochs=1, verbose=0)  # the running means after one batch
    want = {m.name: m.result() for m in model.metrics}
    checkpoint.save_checkpoint(tmp_path / "c.npz", model, epoch=0, step=1, epoch_rng_state=mc.random.get_state())
    resumed = build()
    header = checkpoint.restore_checkpoint(tmp_path / "c.npz", resumed)
    checkpoint.set_running_metrics(resumed, header["running_metric_state"])
    assert {m.name: m.result() for m in resumed.metrics} == want
    assert want["cls_loss"] > 0 and want["reg_loss"] > 0


def test_keras_files_keep_the_per_output_compile_settings(tmp_path):
    ours, theirs = compiled_pair(loss={"cls": "sparse_categorical_crossentropy", "reg": mc.losses.MeanSquaredError()},
                                 loss_weights=[1.0, 0.5], metrics={"cls": ["accuracy"]},
                                 weighted_metrics={"cls": ["accuracy"], "reg": ["mae"]})
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")  # Keras reads minicnn's per-output settings
    assert theirs.loss["cls"] == "sparse_categorical_crossentropy"
    again = load_model(tmp_path / "ours.keras")
    assert again._output_losses.weights == [1.0, 0.5]
    assert [m.name for m in again.metrics] == ["loss", "cls_loss", "reg_loss", "cls_accuracy",
                                               "cls_weighted_accuracy", "reg_mae"]
    np.testing.assert_allclose(again.evaluate(X, [YC, YR], verbose=0), ours.evaluate(X, [YC, YR], verbose=0))
    np.testing.assert_allclose(theirs.evaluate(X, [YC, YR], verbose=0), ours.evaluate(X, [YC, YR], verbose=0),
                               rtol=1e-5)
    keras_made = two_output_model(keras)
    keras_made.compile(loss=["sparse_categorical_crossentropy", "mae"], loss_weights={"cls": 0.5, "reg": 2.0},
                       metrics=[["accuracy"], ["mse"]])
    keras_made.save(tmp_path / "keras.keras")
    loaded = load_model(tmp_path / "keras.keras")
    assert [m.name for m in loaded.metrics] == ["loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mse"]
    np.testing.assert_allclose(loaded.evaluate(X, [YC, YR], verbose=0), keras_made.evaluate(X, [YC, YR], verbose=0),
                               rtol=1e-5, atol=1e-7)


def dict_output_model(lib):
    """Outputs given as a dict: keys 'reg' and 'cls' (not the layer names), 'reg' first."""
    x = lib.Input((5,), name="x")
    hidden = lib.layers.Dense(6, activation="relu")(x)
    return lib.Model(x, {"reg": lib.layers.Dense(2, name="r")(hidden),
                         "cls": lib.layers.Dense(3, activation="softmax", name="c")(hidden)})


def test_a_dict_of_outputs_trains_predicts_and_names_its_logs_by_key_like_keras():
    theirs, ours = dict_output_model(keras), dict_output_model(mc)
    ours.set_weights(theirs.get_weights())
    assert ours.output_names == theirs.output_names == ["c", "r"]  # Keras' order: by sorted key
    args = dict(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"}, loss_weights={"cls": 1.0, "reg": 0.5},
                metrics={"cls": ["accuracy"]}, weighted_metrics={"reg": ["mae"]})
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False, **args)
    ours.compile(optimizer=mc.optimizers.SGD(0.1), **args)
    fit = dict(batch_size=8, epochs=3, shuffle=False, verbose=0)
    h_ours = ours.fit(X, {"cls": YC, "reg": YR}, sample_weight={"reg": SW}, **fit)
    h_theirs = theirs.fit(X, {"cls": YC, "reg": YR}, sample_weight={"cls": np.ones(24), "reg": SW}, **fit)
    assert_trained_alike(ours, theirs, h_ours, h_theirs, {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"})
    np.testing.assert_allclose(ours.evaluate(X, [YC, YR], verbose=0), theirs.evaluate(X, [YC, YR], verbose=0),
                               rtol=1e-5, atol=1e-7)  # a list of targets goes in that sorted order
    p_ours, p_theirs = ours.predict(X, batch_size=10), theirs.predict(X, batch_size=10, verbose=0)
    assert list(p_ours) == list(p_theirs) == ["reg", "cls"]  # a dict, in the model's own order
    for key in p_theirs:
        np.testing.assert_allclose(p_ours[key], p_theirs[key], rtol=1e-5, atol=1e-6)
    assert list(ours(X[:2])) == ["reg", "cls"] and list(ours.predict_on_batch(X[:2])) == ["reg", "cls"]


def test_a_dict_of_outputs_survives_files_and_conversion_both_ways(tmp_path):
    ours = dict_output_model(mc)
    ours.compile(optimizer="sgd", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    ours.save(tmp_path / "ours.keras")
    assert ours.get_config()["output_layers"] == {"reg": ["r", 0, 0], "cls": ["c", 0, 0]}  # as Keras writes it
    for model in (load_model(tmp_path / "ours.keras"), keras.models.load_model(tmp_path / "ours.keras"),
                  interop.to_keras(ours), interop.from_keras(interop.to_keras(ours))):
        out = model.predict(X[:4], verbose=0)
        assert list(out) == ["reg", "cls"], type(model)
        np.testing.assert_allclose(out["cls"], ours.predict(X[:4])["cls"], rtol=1e-5, atol=1e-6)
    theirs = dict_output_model(keras)
    theirs.save(tmp_path / "theirs.keras")
    loaded = load_model(tmp_path / "theirs.keras")
    assert list(loaded.predict(X[:4])) == ["reg", "cls"]
    np.testing.assert_allclose(loaded.predict(X[:4])["reg"], theirs.predict(X[:4], verbose=0)["reg"], rtol=1e-5,
                               atol=1e-6)


def dict_heads(lib):
    """The same two heads as ``dict_output_model``, as a subclassed model whose call() returns a dict."""
    class Heads(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = lib.layers.Dense(6, activation="relu")
            self.reg = lib.layers.Dense(2)
            self.cls = lib.layers.Dense(3, activation="softmax")

        def call(self, x):
            h = self.hidden(x)
            return {"reg": self.reg(h), "cls": self.cls(h)}

    return Heads()


def test_a_subclassed_model_that_returns_a_dict_trains_like_keras():
    theirs, ours = dict_heads(keras), dict_heads(mc)
    theirs(X[:1])
    ours(X[:1])
    ours.set_weights(theirs.get_weights())
    args = dict(loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"}, loss_weights={"cls": 1.0, "reg": 0.5},
                metrics={"cls": ["accuracy"], "reg": ["mae"]})
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False, **args)
    ours.compile(optimizer=mc.optimizers.SGD(0.1), **args)
    fit = dict(batch_size=8, epochs=3, shuffle=False, verbose=0)
    h_ours = ours.fit(X, {"cls": YC, "reg": YR}, sample_weight={"cls": SW}, **fit)
    h_theirs = theirs.fit(X, {"cls": YC, "reg": YR}, sample_weight={"cls": SW, "reg": np.ones(24)}, **fit)
    assert_trained_alike(ours, theirs, h_ours, h_theirs, {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"})
    np.testing.assert_allclose(ours.evaluate(X, {"cls": YC, "reg": YR}, verbose=0),
                               theirs.evaluate(X, {"cls": YC, "reg": YR}, verbose=0), rtol=1e-5, atol=1e-7)
    assert list(ours.predict(X)) == ["reg", "cls"]


def test_dict_models_list_their_losses_as_keras_does_and_a_one_key_dict_is_one_output():
    """Per-output losses in the order of the dict of losses (else of the model's dict), metrics
    by name; a dict with one key takes a plain target and loss and logs plain metric names."""
    def model(lib, keys):
        x = lib.Input((5,), name="x")
        hidden = lib.layers.Dense(6, activation="relu")(x)
        heads = {"z": lib.layers.Dense(3, activation="softmax", name="c")(hidden), "a": lib.layers.Dense(2)(hidden)}
        return lib.Model(x, {k: heads[k] for k in keys})

    targets = {"z": YC, "a": YR}
    for keys, loss in [(("z", "a"), {"z": "sparse_categorical_crossentropy", "a": "mse"}),
                       (("z", "a"), {"a": "mse", "z": "sparse_categorical_crossentropy"})]:
        theirs, ours = model(keras, keys), model(mc, keys)
        ours.set_weights(theirs.get_weights())
        for m in (theirs, ours):
            m.compile(optimizer="sgd", loss=loss, metrics={"z": ["accuracy"], "a": ["mae"]})
        np.testing.assert_allclose(ours.evaluate(X, targets, verbose=0), theirs.evaluate(X, targets, verbose=0),
                                   rtol=1e-5, atol=1e-7)
    theirs, ours = model(keras, ("z",)), model(mc, ("z",))
    ours.set_weights(theirs.get_weights())
    args = dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"], weighted_metrics=["accuracy"])
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False, **args)
    ours.compile(optimizer=mc.optimizers.SGD(0.1), **args)
    fit = dict(batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=SW)
    assert_trained_alike(ours, theirs, ours.fit(X, YC, **fit), theirs.fit(X, YC, **fit),
                         {"loss", "accuracy", "weighted_accuracy"})
    assert list(ours.predict(X)) == ["z"]


def test_a_dict_model_inside_another_functional_model():
    inner_k, inner_m = dict_output_model(keras), dict_output_model(mc)
    inner_m.set_weights(inner_k.get_weights())
    picked, passed = {}, {}
    for lib, inner in ((keras, inner_k), (mc, inner_m)):
        x = lib.Input((5,))
        out = inner(x)
        assert list(out) == ["reg", "cls"]
        picked[lib], passed[lib] = lib.Model(x, out["cls"]), lib.Model(x, out)
    np.testing.assert_allclose(picked[mc].predict(X), picked[keras].predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    ours, theirs = passed[mc].predict(X), passed[keras].predict(X, verbose=0)
    assert list(ours) == list(theirs) == ["reg", "cls"]
    np.testing.assert_allclose(ours["reg"], theirs["reg"], rtol=1e-5, atol=1e-6)


def test_named_outputs_with_one_loss_are_clear_errors():
    class Heads(mc.Model):
        def call(self, x):
            return {"a": x, "b": x}

    model = Heads(name="heads")
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"fit: y is a dict of targets \['a', 'b'\], but the model was compiled for "
                                         r"one output; .* takes a dict of losses by those names"):
        model.fit(X, {"a": X, "b": X}, verbose=0)
    with pytest.raises(ValueError, match=r"model 'heads' returned a dict of outputs \['a', 'b'\] but was compiled "
                                         r"with one loss: give compile\(\) a dict of losses by those keys"):
        model.fit(X, X, verbose=0)


def test_predict_returns_new_arrays_even_when_the_output_is_a_view_of_the_input():
    model = mc.Sequential([mc.Input((2, 3)), mc.layers.Flatten()])
    x = np.ones((4, 2, 3), "float32")
    model.predict(x)[0, 0] = 99.0
    assert x[0, 0, 0] == 1.0
