"""Training checkpoints: a resumable run's weights, optimizer state, RNG state and place in the
epoch (``checkpoint.py``). A model's Keras-compatible ``.weights.h5`` file is the model's own
(``models/weights_file.py``)."""
