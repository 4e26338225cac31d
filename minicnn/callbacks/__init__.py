"""Callbacks: code that ``fit`` runs at the start/end of training, epochs and batches.

The same hooks and names as Keras (``on_epoch_end(epoch, logs)`` etc.), and the
callbacks people use most:

``base.py``      Callback, CallbackList, History, ProgressLogger, LambdaCallback
``monitors.py``  EarlyStopping, ReduceLROnPlateau, TerminateOnNaN, LearningRateScheduler
``files.py``     ModelCheckpoint, CSVLogger, BackupAndRestore
"""
from .base import Callback, CallbackList, History, LambdaCallback, ProgressLogger
from .files import BackupAndRestore, CSVLogger, ModelCheckpoint
from .monitors import EarlyStopping, LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN, batch_loss_is_finite

__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
           "LearningRateScheduler", "ModelCheckpoint", "ProgressLogger", "ReduceLROnPlateau", "TerminateOnNaN",
           "batch_loss_is_finite"]
