"""Training checkpoints: a resumable run's weights, optimizer state, RNG state, place in the
epoch and running metric sums, checked as a whole before anything is restored
(``checkpoint.py``), and continuing a run inside ``fit`` from one (``resume.py``). A model's
Keras-compatible ``.weights.h5`` file is the model's own (``models/weights_file.py``)."""
