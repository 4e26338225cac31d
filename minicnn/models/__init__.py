"""Models: Sequential, functional ``Model(inputs, outputs)``, subclassed ``Model``;
whole-model ``.keras`` files (``load_model``) and configs (``model_from_json``, ``clone_model``)."""
from .model import Model
from .registry import register_keras_serializable
from .saving import clone_model, load_model, model_from_json
from .sequential import Sequential

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json", "register_keras_serializable"]
