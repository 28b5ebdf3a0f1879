"""The Keras-shaped training methods every model has: compile, fit, evaluate, predict, save."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.training import loop
from glassnet.training.callbacks import Callback
from glassnet.training.checkpoint import save_checkpoint

LOSS_NAMES = (
    "mse",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
)
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSProp"}


def make_optimizer(optimizer: Any, params: list[Any]) -> Any:
    """An optimizer instance: given one, or a name ("sgd", "adam", ...) with default settings.

    Raises:
        GlassnetError: for an unknown name (the valid ones are listed).
    """
    if not isinstance(optimizer, str):
        return optimizer
    from glassnet import optim

    key = optimizer.lower()
    if key not in OPTIMIZERS:
        raise GlassnetError(f"compile: optimizer={optimizer!r} is not one of {list(OPTIMIZERS)}")
    return getattr(optim, OPTIMIZERS[key])(params)


class TrainingMixin:
    """compile / fit / evaluate / predict / save for :class:`glassnet.models.Model`."""

    _train_cfg: loop.TrainConfig | None = None
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
        if loss not in LOSS_NAMES:
            raise GlassnetError(f"compile: loss={loss!r} is not one of {list(LOSS_NAMES)}")
        bad = [m for m in metrics if m not in ("accuracy", "acc")]
        if bad:
            raise GlassnetError(f"compile: metrics {bad} are unknown; valid: ['accuracy']")
        params = self.parameters()  # type: ignore[attr-defined]
        opt = make_optimizer(optimizer, params)
        if getattr(opt, "params", None) is not None and len(opt.params) != len(params):
            raise GlassnetError(
                f"compile: the optimizer holds {len(opt.params)} parameters but the model has "
                f"{len(params)}; build it on model.parameters()"
            )
        self._train_cfg = loop.TrainConfig(opt, loss, bool(metrics), from_logits)

    @property
    def optimizer(self) -> Any:
        """The compiled optimizer (None before :meth:`compile`)."""
        return None if self._train_cfg is None else self._train_cfg.optimizer

    def _cfg(self, who: str) -> loop.TrainConfig:
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
        callbacks: Sequence[Callback] = (),
        verbose: int = 1,
        **kwargs: Any,
    ) -> loop.History:
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
            callbacks: e.g. EarlyStopping, ModelCheckpoint, CSVLogger.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch (all on stderr).
            **kwargs: passed to :func:`glassnet.training.loop.fit`: ``initial_epoch``, ``rng``
                (the batch-order generator), ``distributed`` (True: data-parallel over MPI,
                batch_size is the global batch split over the ranks; False: never; default
                None: when started by ``mpiexec`` with more than one rank; see
                ``docs/distributed.md``).

        Returns:
            A :class:`~glassnet.training.loop.History`.

        Shapes:
            x: (N, *input_shape); y: (N,) or (N, K)
        """
        return loop.fit(
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
        return loop.evaluate(self, x, y, self._cfg("evaluate"), batch_size)

    def predict(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """Outputs for every row of x (inference mode)."""
        return loop.predict(self, x, batch_size)  # type: ignore[no-any-return]

    def save(self, path: str | Path, include_optimizer: bool = True) -> Path:
        """Save weights, architecture (and optimizer state) to one ``.npz``, atomically."""
        opt = self.optimizer if include_optimizer else None
        return save_checkpoint(self, path, optimizer=opt)
