"""The Keras-shaped training methods every model has: compile, fit, evaluate, predict, save.

The models layer sits below training (docs/architecture.md), so these methods hold no logic:
each delegates to the :class:`TrainingEngine` held by ``glassnet.hooks.TRAINING_ENGINE``.
``glassnet/__init__.py`` fills that hook with :class:`glassnet.training.engine.Engine`,
imported on the first call, so ``gn.Sequential([...]).fit(...)`` works while
``import glassnet.models`` loads no training, data, dist or onnx module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.hooks import TRAINING_ENGINE


class TrainConfig(Protocol):
    """What ``compile`` fixed (the engine's own type; these are the fields others read)."""

    optimizer: Any
    loss: str
    accuracy: bool
    from_logits: bool


class FitHistory(Protocol):
    """What ``fit`` returns: ``history["loss"][e]`` for epoch e + 1, as Keras' ``History``."""

    history: dict[str, list[float]]
    epochs: int
    seconds: float


@runtime_checkable
class TrainingEngine(Protocol):
    """The training loop behind :class:`KerasMethods` (implemented in ``glassnet.training``)."""

    def compile(
        self, model: Any, optimizer: Any, loss: str, metrics: Sequence[str], from_logits: bool
    ) -> TrainConfig:
        """Check the arguments; return the configuration ``fit`` will use."""
        ...

    def fit(self, model: Any, cfg: TrainConfig, x: Any, y: Any, **kwargs: Any) -> FitHistory:
        """Train ``model`` (see :meth:`KerasMethods.fit`)."""
        ...

    def evaluate(
        self, model: Any, cfg: TrainConfig, x: Any, y: Any, batch_size: int
    ) -> dict[str, float]:
        """Mean loss (and accuracy) over (x, y)."""
        ...

    def predict(self, model: Any, x: Any, batch_size: int) -> np.ndarray:
        """Outputs for every row of x."""
        ...

    def save(self, model: Any, path: str | Path, optimizer: Any) -> Path:
        """Write a checkpoint of ``model`` (and ``optimizer``)."""
        ...


_checked: list[object] = [None]  # the engine last checked against the protocol


def training_engine() -> TrainingEngine:
    """The installed engine (checked against :class:`TrainingEngine` once).

    Raises:
        GlassnetError: if none is installed, or it lacks one of the protocol's methods.
    """
    engine = TRAINING_ENGINE.get()
    if engine is not _checked[0]:
        if not isinstance(engine, TrainingEngine):
            raise GlassnetError(f"the training engine {engine!r} lacks TrainingEngine's methods")
        _checked[0] = engine
    return cast(TrainingEngine, engine)


class KerasMethods:
    """compile / fit / evaluate / predict / save for :class:`glassnet.models.Model`."""

    _train_cfg: TrainConfig | None = None
    stop_training: bool = False

    def compile(
        self,
        optimizer: Any = "adam",
        loss: str = "sparse_categorical_crossentropy",
        metrics: Sequence[str] = ("accuracy",),
        from_logits: bool = False,
    ) -> None:
        """Fix the optimizer, the loss and the metrics for :meth:`fit`.

        Args:
            optimizer: an optimizer from :mod:`glassnet.optim` built on ``model.parameters()``
                (or built later, see below), or a name: "sgd", "adam", "adamw", "rmsprop".
            loss: one of the loss names of DESIGN.md §3.
            metrics: ``["accuracy"]`` or ``[]``.
            from_logits: the model outputs logits (no softmax at the end).

        Raises:
            GlassnetError: unknown loss, metric or optimizer name.
        """
        self._train_cfg = training_engine().compile(self, optimizer, loss, metrics, from_logits)

    @property
    def train_config(self) -> TrainConfig | None:
        """What :meth:`compile` fixed (None before it); checkpoints save and restore it."""
        return self._train_cfg

    @train_config.setter
    def train_config(self, cfg: TrainConfig | None) -> None:
        self._train_cfg = cfg

    @property
    def optimizer(self) -> Any:
        """The compiled optimizer (None before :meth:`compile`)."""
        return None if self._train_cfg is None else self._train_cfg.optimizer

    def _cfg(self, who: str) -> TrainConfig:
        if self._train_cfg is None:
            raise GlassnetError(f"{who}: call model.compile(optimizer, loss, metrics) first")
        return self._train_cfg

    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data: tuple[Any, Any] | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        seed: int = 0,
        callbacks: Sequence[Any] = (),
        verbose: int = 1,
        **kwargs: Any,
    ) -> FitHistory:
        """Train with mini-batch gradient descent (the batch gradient is the batch mean).

        Args:
            x: inputs, NHWC (or (N, F)).
            y: integer labels (N,) or targets (N, K).
            epochs: passes over the data.
            batch_size: samples per step (the last batch may be smaller).
            validation_data: (x_val, y_val) evaluated after each epoch.
            validation_split: else, this fraction of the *last* samples is held out.
            shuffle: reshuffle every epoch (seeded).
            seed: seeds the batch order; weights come from the model's own seed.
            callbacks: e.g. EarlyStopping, ModelCheckpoint, CSVLogger
                (:mod:`glassnet.training.callbacks`).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch (all on stderr).
            **kwargs: passed to :func:`glassnet.training.loop.fit`: ``initial_epoch``, ``rng``
                (the batch-order generator), ``distributed`` (True: data-parallel over MPI,
                batch_size is the global batch split over the ranks; False: never; default
                None: when started by ``mpiexec`` with more than one rank; see
                ``docs/distributed.md``); ``on_divergence``/``divergence_factor`` (the
                divergence guard); ``checkpoint_dir``/``resume`` (a checkpoint after every
                epoch, and resuming from it bit-identically; see ``docs/resume.md``).

        Returns:
            A :class:`~glassnet.training.loop.History`.

        Shapes:
            x: (N, *input_shape); y: (N,) or (N, K)
        """
        return training_engine().fit(
            self,
            self._cfg("fit"),
            x,
            y,
            epochs=epochs,
            batch_size=batch_size,
            validation_data=validation_data,
            validation_split=validation_split,
            shuffle=shuffle,
            seed=seed,
            callbacks=callbacks,
            verbose=verbose,
            **kwargs,
        )

    def evaluate(self, x: Any, y: Any, batch_size: int = 256) -> dict[str, float]:
        """Mean loss and accuracy on (x, y) in inference mode."""
        return training_engine().evaluate(self, self._cfg("evaluate"), x, y, batch_size)

    def predict(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """Outputs for every row of x (inference mode)."""
        return training_engine().predict(self, x, batch_size)

    def save(self, path: str | Path, include_optimizer: bool = True) -> Path:
        """Save weights, architecture (and optimizer state) to one ``.npz``, atomically."""
        opt = self.optimizer if include_optimizer else None
        return training_engine().save(self, path, opt)
