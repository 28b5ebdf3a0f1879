"""Optimizers and learning-rate schedules, each step for step identical to torch.optim's.

Optimizers update ``param.data`` in place from ``param.grad`` (see :mod:`glassnet.optim.base`
for the parameter protocol); schedules set ``optimizer.lr`` once per epoch.
"""

from glassnet.optim.adam import Adam, AdamW
from glassnet.optim.base import Optimizer
from glassnet.optim.registry import NAMES, get, lookup
from glassnet.optim.rmsprop import RMSProp
from glassnet.optim.schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    LRScheduler,
    ReduceLROnPlateau,
    StepLR,
)
from glassnet.optim.sgd import SGD, AlexNetSGD

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "AlexNetSGD",
    "CosineAnnealingLR",
    "ExponentialLR",
    "NAMES",
    "LRScheduler",
    "Optimizer",
    "RMSProp",
    "ReduceLROnPlateau",
    "StepLR",
    "get",
    "lookup",
]
