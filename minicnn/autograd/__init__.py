"""The autograd core: Tensor, Function, no_grad and elementary operations.

``tensor.py`` (Tensor, Function and the arithmetic behind Tensor's operators)
<- ``backprop.py`` (the backward walk); ``math_ops.py`` and ``variable.py``
build on ``tensor.py``.
"""
from . import math_ops
from .tensor import Function, Tensor, as_tensor, grad_enabled, no_grad
from .variable import Variable

__all__ = ["Function", "Tensor", "Variable", "as_tensor", "grad_enabled", "math_ops", "no_grad"]
