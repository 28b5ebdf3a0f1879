"""The training engine behind ``Model.compile/fit/evaluate/predict/save``.

:class:`glassnet.models.api.KerasMethods` holds the methods with their Keras signatures and
delegates each to an engine (protocol :class:`glassnet.models.api.TrainingEngine`);
``glassnet/__init__.py`` installs :class:`Engine` on the first call. The engine keeps the
arguments' checks, the optimizer by name and the data-parallel factory it hands to
:func:`glassnet.training.loop.fit`, and runs fit/evaluate/predict inside
:func:`glassnet.accel.compute_scope` (threads split, one-thread BLAS, warm heap — all restored
when the call returns).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glassnet import optim
from glassnet.accel import compute_scope
from glassnet.errors import GlassnetError
from glassnet.models.graph import Model
from glassnet.training import loop
from glassnet.training.checkpoint import save_checkpoint
from glassnet.training.strategy import StrategyFactory

LOSS_NAMES = (
    "mse",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
)


def make_optimizer(optimizer: Any, params: list[Any]) -> Any:
    """An optimizer instance: given one, or a name ("sgd", "adam", ...) with default settings.

    Raises:
        GlassnetError: for an unknown name (the valid ones are listed).
    """
    if not isinstance(optimizer, str):
        return optimizer
    if optimizer.lower() not in optim.NAMES:
        raise GlassnetError(f"compile: optimizer={optimizer!r} is not one of {list(optim.NAMES)}")
    return optim.get(optimizer, params)


class Engine:
    """compile / fit / evaluate / predict / save on a :class:`~glassnet.models.Model`.

    Args:
        parallel: builds the strategy of a distributed ``fit`` (see
            :func:`glassnet.training.strategy.choose`); None: distributed fits are refused.
    """

    def __init__(self, parallel: StrategyFactory | None = None) -> None:
        self.parallel = parallel

    def compile(
        self,
        model: Model,
        optimizer: Any,
        loss: str,
        metrics: Sequence[str],
        from_logits: bool,
    ) -> loop.TrainConfig:
        """Check the loss, the metrics and the optimizer; return the training configuration.

        Raises:
            GlassnetError: unknown loss, metric or optimizer name, or an optimizer built on
                other parameters.
        """
        if loss not in LOSS_NAMES:
            raise GlassnetError(f"compile: loss={loss!r} is not one of {list(LOSS_NAMES)}")
        bad = [m for m in metrics if m not in ("accuracy", "acc")]
        if bad:
            raise GlassnetError(f"compile: metrics {bad} are unknown; valid: ['accuracy']")
        params = model.parameters()
        opt = make_optimizer(optimizer, params)
        if getattr(opt, "params", None) is not None and len(opt.params) != len(params):
            raise GlassnetError(
                f"compile: the optimizer holds {len(opt.params)} parameters but the model has "
                f"{len(params)}; build it on model.parameters()"
            )
        return loop.TrainConfig(opt, loss, bool(metrics), from_logits)

    def fit(
        self, model: Model, cfg: loop.TrainConfig, x: Any, y: Any, **kwargs: Any
    ) -> loop.History:
        """Train (see :func:`glassnet.training.loop.fit`)."""
        kwargs.setdefault("parallel", self.parallel)
        with compute_scope():
            return loop.fit(model, cfg, x, y, **kwargs)

    def evaluate(
        self, model: Model, cfg: loop.TrainConfig, x: Any, y: Any, batch_size: int
    ) -> dict[str, float]:
        """Mean loss and accuracy on (x, y) in inference mode."""
        with compute_scope():
            return loop.evaluate(model, x, y, cfg, batch_size)

    def predict(self, model: Model, x: Any, batch_size: int) -> np.ndarray:
        """Outputs for every row of x (inference mode)."""
        with compute_scope():
            return loop.predict(model, x, batch_size)

    def save(self, model: Model, path: str | Path, optimizer: Any) -> Path:
        """Save weights, architecture (and optimizer state) to one ``.npz``, atomically."""
        return save_checkpoint(model, path, optimizer=optimizer)
