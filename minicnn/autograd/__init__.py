"""The autograd core: Tensor, Function, no_grad and elementary operations.

``tensor.py`` (Tensor, Function and the arithmetic behind Tensor's operators)
builds on ``backprop.py`` (the backward walk) and ``grad_mode.py`` (``no_grad``);
``math_ops.py`` and ``variable.py`` build on ``tensor.py``.
"""
from . import math_ops
from .grad_mode import grad_enabled, no_grad
from .tensor import Function, Tensor, as_tensor
from .variable import Variable

__all__ = ["Function", "Tensor", "Variable", "as_tensor", "grad_enabled", "math_ops", "no_grad"]
