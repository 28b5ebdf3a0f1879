"""Training: the fit loop, callbacks, progress, checkpoints and repeated runs."""

from glassnet.training.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    JSONLogger,
    ModelCheckpoint,
)
from glassnet.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from glassnet.training.loop import History, TrainingDiverged

__all__ = [
    "CSVLogger",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "History",
    "JSONLogger",
    "ModelCheckpoint",
    "TrainingDiverged",
    "load_checkpoint",
    "save_checkpoint",
]
