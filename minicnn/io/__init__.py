"""Reading and writing weights (Keras ``.weights.h5``) and training checkpoints."""
