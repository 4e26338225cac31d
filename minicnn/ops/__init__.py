"""Differentiable operations: each one a ``Function`` whose forward and backward
are plain array code over ``xp`` (NumPy or CuPy), with its formulas beside it.

=================  =============================================================
``conv.py``         Conv2D as im2col + one GEMM (``im2col.py``: the windows;
                    ``shapes.py``: output sizes and Keras' 'same' padding)
``dense.py``        Dense as one GEMM
``conv_pool.py``    Conv2D + ReLU + MaxPooling2D as one Function (what
                    ``Sequential`` runs for that pair)
``conv_transpose.py``  Conv2DTranspose: a convolution's input-gradient run
                    forward (col2im of one GEMM)
``depthwise.py``    DepthwiseConv2D
``pool.py``         max, average and global pooling
``batchnorm.py``    BatchNormalization
``activation_ops.py``  ReLU, sigmoid, tanh, softmax, ELU, GELU
``loss_ops.py``     fused softmax + cross-entropy and friends
``spatial.py``      zero padding and upsampling
``kernels/``        compiled overrides of the heavy parts (Numba on the CPU,
                    CUDA on the GPU), chosen in ``kernels/__init__.py``

``api.py``          the namespace custom layers use, under ``keras.ops`` names
                    (``minicnn.ops.tanh``, ``ops.max``, ``ops.where``, ...)
=================  =============================================================

``blas_on_one_thread`` is what the training loop needs from here: the context
a step runs in on the CPU while the Numba kernels split the batch themselves.
"""
from . import api
from .api import *  # noqa: F403 - the keras.ops-like names, listed in api.__all__
from .kernels import blas_on_one_thread

__all__ = ["blas_on_one_thread", *api.__all__]
