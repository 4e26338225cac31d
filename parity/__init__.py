"""minicnn's parity suite: proof, against real TensorFlow/Keras, that minicnn computes the same numbers.

Run it with ``pytest parity`` or ``python -m parity`` (the report, written to parity/REPORT.md).
"""
