"""Models with several inputs train from arrays: a list, a tuple or a dict by input name, as in Keras.

The same two-input functional model is built in minicnn and in Keras from the
same weights and trained on the same batches (SGD, no shuffling): the weights
after two epochs, the losses and the predictions agree to float32 rounding.
"""
import numpy as np
import pytest

import minicnn as mc

keras = pytest.importorskip("keras")

RNG = np.random.default_rng(0)
A = RNG.standard_normal((24, 3)).astype("float32")
B = RNG.standard_normal((24, 5)).astype("float32")
Y = RNG.integers(0, 4, 24)


def two_input_model(lib):
    a, b = lib.Input((3,), name="a"), lib.Input((5,), name="b")
    x = lib.layers.Concatenate()([lib.layers.Dense(6, activation="relu")(a), lib.layers.Dense(6)(b)])
    return lib.Model([a, b], lib.layers.Dense(4, activation="softmax")(x))


def compiled_pair():
    theirs = two_input_model(keras)
    ours = two_input_model(mc)
    ours.set_weights(theirs.get_weights())
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", jit_compile=False)
    ours.compile(optimizer=mc.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    return ours, theirs


def test_two_inputs_train_like_keras():
    ours, theirs = compiled_pair()
    h_ours = ours.fit([A, B], Y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    h_theirs = theirs.fit([A, B], Y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(h_ours, h_theirs, rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict((A, B)), theirs.predict([A, B], verbose=0), rtol=1e-5, atol=1e-6)


def test_a_dict_by_input_name_is_the_same_as_the_list():
    model = two_input_model(mc)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    np.testing.assert_array_equal(model.predict({"b": B, "a": A}), model.predict([A, B]))
    assert model.evaluate({"a": A, "b": B}, Y, verbose=0) == model.evaluate([A, B], Y, verbose=0)
    history = model.fit({"a": A, "b": B}, Y, epochs=1, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "val_loss"}


def test_inputs_of_different_lengths_and_wrong_names_are_clear_errors():
    model = two_input_model(mc)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="input 0 with 24 and input 1 with 20"):
        model.fit([A, B[:20]], Y, verbose=0)
    with pytest.raises(ValueError, match=r"input names \['a', 'b'\]; missing \['b'\], unexpected \['c'\]"):
        model.predict({"a": A, "c": B})


def test_a_list_that_does_not_hold_one_array_per_input_is_a_clear_error():
    """predict((x, y)) on a one-input model failed with "'list' object has no attribute 'shape'"."""
    model = mc.Sequential([mc.Input((3,)), mc.layers.Dense(2)])
    x = np.ones((4, 3), "float32")
    for bad in [(x, np.ones(4)), [x, x]]:
        with pytest.raises(ValueError, match=r"predict: the model has 1 input\(s\) \[\(None, 3\)\] but got a "
                                             r"(tuple|list) of 2 arrays"):
            model.predict(bad)
    np.testing.assert_array_equal(model.predict([x]), model.predict(x))  # [x] is x, as in Keras
