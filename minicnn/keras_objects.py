"""Small objects Keras writes into a model's config by class name and arguments
(a regularizer, a constraint), and how they are looked up and written.

Keras' form (``keras/src/saving/serialization_lib.py``)::

    {"module": "keras.constraints", "class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0},
     "registered_name": None}

A layer argument such as ``kernel_constraint`` takes such a dict, a Keras name
(``"max_norm"``), an instance, or any function; only instances of the built-in
classes can be written back (a function is code, and a file never carries code).
"""
from __future__ import annotations


class KerasObject:
    """Base of a family (``Regularizer``, ``Constraint``): ``type(o)(**o.get_config())`` is ``o`` again."""

    keras_module = ""  # where Keras keeps the family: "keras.regularizers", ...

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def lookup(identifier, family: type, by_name: dict, what: str, hint: str):
    """The object ``identifier`` means: None, an instance of ``family``, a name
    in ``by_name``, Keras' dict for one, or a function (kept as it is)."""
    if identifier is None or isinstance(identifier, family):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, family):
        return identifier()  # the class itself, with its defaults (as Keras)
    if isinstance(identifier, str) and identifier in by_name:
        return by_name[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in by_name:
        return by_name[identifier["class_name"]].from_config(identifier.get("config") or {})
    if callable(identifier) and not isinstance(identifier, (str, dict)):
        return identifier
    raise ValueError(f"Unknown {what} {identifier!r}: use one of {sorted(by_name)}, {hint}")


def serialize(obj):
    """Keras' dict for a built-in object; anything else (a function) as it is."""
    if isinstance(obj, KerasObject):
        return {"module": obj.keras_module, "class_name": type(obj).__name__, "config": obj.get_config(),
                "registered_name": None}
    return obj
