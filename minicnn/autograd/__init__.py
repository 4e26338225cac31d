"""The autograd core: Tensor, Function, no_grad and elementary operations."""
from . import math_ops
from .function import Function, grad_enabled, no_grad
from .tensor import Tensor, as_tensor
from .variable import Variable

__all__ = ["Function", "Tensor", "Variable", "as_tensor", "grad_enabled", "math_ops", "no_grad"]
