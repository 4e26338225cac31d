"""Keras 3's training hooks: ``train_step(self, data)``, ``test_step``,
``predict_step``, ``compute_loss``, ``self.metrics``, overridden as the Keras
guide "Customizing what happens in fit()" does, called by fit/evaluate/predict."""
import numpy as np
import pytest

import minicnn as mc

rng = np.random.default_rng(0)
X = rng.standard_normal((40, 4)).astype("float32")
Y = (X[:, :1] > 0).astype("float32")


def build(cls=mc.Model):
    inputs = mc.Input((4,))
    hidden = mc.layers.Dense(5, activation="relu", kernel_regularizer=lambda w: (w * w).sum() * 0.01)(inputs)
    model = cls(inputs, mc.layers.Dense(1, activation="sigmoid")(hidden))
    model.set_weights([np.random.default_rng(1).standard_normal(w.shape).astype("float32") * 0.5
                       for w in model.get_weights()])
    model.compile(optimizer=mc.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    return model


class GuideModel(mc.Model):
    """The Keras guide's custom step, in minicnn: backward() instead of a GradientTape."""

    seen = []

    def train_step(self, data):
        x, y = data[:2]
        self.seen.append(len(data))
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        self.optimizer.apply([w.grad for w in self.trainable_weights], self.trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss, len(x))
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_a_custom_train_step_trains_exactly_as_the_built_in_one():
    ours, built_in = build(GuideModel), build()
    h1 = ours.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    h2 = built_in.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), built_in.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert h1.history.keys() == h2.history.keys() == {"loss", "accuracy"}
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-6)
    assert set(GuideModel.seen) == {2}  # (x, y): no sample weights given


def test_the_step_gets_sample_weights_and_super_train_step_works():
    got = []

    class Weighted(mc.Model):
        def train_step(self, data):
            got.append(len(data))
            return super().train_step(data)

    model = build(Weighted)
    reference = build()
    weights = np.linspace(0.5, 2.0, 40).astype("float32")
    history = model.fit(X, Y, batch_size=10, epochs=1, shuffle=False, sample_weight=weights, verbose=0)
    want = reference.fit(X, Y, batch_size=10, epochs=1, shuffle=False, sample_weight=weights, verbose=0)
    assert set(got) == {3}
    assert history.history["loss"] == pytest.approx(want.history["loss"], rel=1e-6)


def test_test_step_and_predict_step_overrides_are_what_evaluate_validation_and_predict_call():
    class Doubled(mc.Model):
        def test_step(self, data):
            logs = super().test_step(data)
            return {**logs, "twice_loss": 2 * logs["loss"]}

        def predict_step(self, data):
            return super().predict_step(data) * 2.0

    model, plain = build(Doubled), build()
    logs = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert logs["twice_loss"] == pytest.approx(2 * logs["loss"])
    assert logs["loss"] == pytest.approx(plain.evaluate(X, Y, verbose=0)[0])
    np.testing.assert_allclose(model.predict(X), 2 * plain.predict(X), rtol=1e-6)
    history = model.fit(X, Y, epochs=1, validation_data=(X, Y), verbose=0)
    assert "val_twice_loss" in history.history


def test_compute_loss_adds_the_layers_own_losses_and_train_on_batch_resets_metrics():
    model = build()
    pred = model(X, training=False)
    bare = mc.losses.get("binary_crossentropy")(Y, pred)
    penalty = sum(float(p.data) for p in model.losses)
    assert float(model.compute_loss(X, Y, pred).data) == pytest.approx(float(bare.data) + penalty, rel=1e-6)
    first = model.train_on_batch(X, Y, return_dict=True)
    again = model.train_on_batch(X, Y, return_dict=True)
    assert set(first) == {"loss", "accuracy"} and again["loss"] < first["loss"]
    penalty = sum(float(p.data) for p in model.losses)  # the weights moved: the penalty before this step
    weighted = model.train_on_batch(X, Y, sample_weight=np.zeros(40, "float32"), return_dict=True)
    assert weighted["loss"] == pytest.approx(penalty, rel=1e-5)  # zero-weighted samples: the penalty alone


def test_unpack_x_y_sample_weight_as_keras():
    from minicnn.models.data import unpack_x_y_sample_weight

    assert unpack_x_y_sample_weight((1,)) == (1, None, None)
    assert unpack_x_y_sample_weight((1, 2)) == (1, 2, None)
    assert unpack_x_y_sample_weight((1, 2, 3)) == (1, 2, 3)
    assert unpack_x_y_sample_weight(X) == (X, None, None)
    with pytest.raises(ValueError, match="got a tuple of 4 items"):
        unpack_x_y_sample_weight((1, 2, 3, 4))
