"""Which class a name in a saved config means: built-in classes and registered custom ones.

A ``.keras`` file names every object by its class (``"class_name": "Conv2D"``)
and, for your own classes, by a *registered name* (``"registered_name":
"my_package>Scale"``). Loading looks a class up here; it never imports a module
or runs code named by the file, so a file from outside can only build classes
you already have.

    @minicnn.utils.register_keras_serializable(package="my_package")
    class Scale(minicnn.layers.Layer):
        ...

Keras spells it ``keras.saving.register_keras_serializable``; the registered
names are the same (``package>ClassName``), so a file Keras wrote with a
registered custom layer opens in minicnn when minicnn has a class registered
under that name, and the other way round.
"""
from __future__ import annotations

_REGISTERED: dict[str, type] = {}   # "package>Name" -> class
_BUILT_IN: dict[str, type] = {}     # Keras class name -> minicnn class, for classes outside ``layers``


def register_keras_serializable(package="Custom", name=None):
    """Decorator: register a class under ``package>name`` (``name``: the class name)."""
    if ">" in str(package):
        raise ValueError(f"register_keras_serializable: package cannot contain '>', got {package!r}")

    def register(cls):
        key = f"{package}>{name or cls.__name__}"
        if key in _REGISTERED and _REGISTERED[key] is not cls:
            raise ValueError(f"register_keras_serializable: {key!r} is already registered to "
                             f"{_REGISTERED[key].__module__}.{_REGISTERED[key].__qualname__}")
        if not hasattr(cls, "get_config"):
            raise ValueError(f"register_keras_serializable: {cls.__name__} has no get_config(), so it cannot be saved")
        _REGISTERED[key] = cls
        cls._registered_name = key
        return cls

    return register


def registered_name(cls) -> str | None:
    """The name ``cls`` was registered under (``vars``: a subclass does not inherit it)."""
    key = vars(cls).get("_registered_name")
    return key if key is not None and _REGISTERED.get(key) is cls else None


def register_built_in(cls, keras_name) -> type:
    """Record a minicnn class that Keras writes as ``keras_name`` (``Model`` is Keras' ``Functional``)."""
    _BUILT_IN[keras_name] = cls
    return cls


def built_in(keras_name):
    return _BUILT_IN.get(keras_name)


def find_class(entry: dict, custom_objects, built_ins) -> type | None:
    """The class a serialized entry names: ``custom_objects`` first (by registered or
    class name), then registered classes, then ``built_ins`` (a name -> class lookup)."""
    class_name, key = entry.get("class_name"), entry.get("registered_name")
    custom_objects = custom_objects or {}
    for name in (key, class_name):
        if name is not None and name in custom_objects:
            return custom_objects[name]
    if key is not None and key in _REGISTERED:
        return _REGISTERED[key]
    return built_ins(class_name) if isinstance(class_name, str) else None
