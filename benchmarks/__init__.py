"""Speed measurements for minicnn: ``python -m benchmarks`` (see README.md here).

* ``profile_step``  where a training step of the seed CNN spends its time
* ``kernels``       each conv/pool/dense of the seed CNN, forward and backward,
                    NumPy reference vs Numba kernels (ms and GFLOP/s)
* ``endtoend``      minicnn vs Keras vs PyTorch: training and inference img/s and
                    peak memory, each framework in its own process
"""
