"""How ``fit`` spreads its steps over processes: the hook protocol and the one-process default.

The training loop calls a :class:`Strategy` at fixed points of every step and epoch; the
default, :class:`SingleProcess`, does nothing at each. Data parallelism over MPI
(:class:`glassnet.dist.DataParallel`) implements the same protocol one layer up: ``fit`` never
imports ``glassnet.dist``. It receives a :data:`StrategyFactory` instead —
``glassnet/__init__.py`` passes one that imports dist only when the run is distributed — and
asks :func:`choose` which strategy a call gets. A plain run therefore never imports dist or
mpi4py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.models.api import TrainConfig
from glassnet.models.graph import Model

# Set by every common launcher: mpiexec of MPICH/Intel MPI (PMI_SIZE), Open MPI, MVAPICH and
# Slurm's srun; reading them needs no MPI library.
SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS")


def launcher_size() -> int:
    """Ranks the launcher started, from the environment (1 when not under a launcher)."""
    for name in SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.strip().isdigit():
            return max(int(value), 1)
    return 1


class Strategy(Protocol):
    """What ``fit`` calls to train over several processes (see ``docs/distributed.md``)."""

    @property
    def is_root(self) -> bool:
        """True on the process that prints progress and writes files."""
        ...

    def shard(self, xb: Any, yb: Any) -> tuple[Any, Any]:
        """Return this process's share of a global batch."""
        ...

    def rows(self, n: int) -> tuple[int, int]:
        """Rows ``[start, stop)`` of a global batch of ``n`` that :meth:`shard` returns."""
        ...

    def allreduce_grads(self, params: Sequence[Any], n_local: int, n_global: int) -> None:
        """Replace each ``p.grad`` by the global batch mean."""
        ...

    def reduce_metrics(self, *values: float) -> tuple[float, ...]:
        """Sum each value over the processes."""
        ...

    def evaluate(
        self, model: Model, x: Any, y: Any, cfg: TrainConfig, batch_size: int = 256
    ) -> dict[str, float]:
        """Mean loss (and accuracy) over (x, y)."""
        ...

    def callbacks(self, callbacks: Sequence[Any]) -> list[Any]:
        """The callbacks this process runs."""
        ...


# (model, batch_size=, samples=, rng=) -> the strategy of one distributed fit call.
StrategyFactory = Callable[..., Strategy]


class SingleProcess:
    """The default: one process holds every sample; each hook leaves its input as it is.

    Args:
        evaluate: the one-process evaluation (``glassnet.training.loop.evaluate``).
    """

    is_root = True

    def __init__(self, evaluate: Callable[..., dict[str, float]]) -> None:
        self._evaluate = evaluate

    def shard(self, xb: Any, yb: Any) -> tuple[Any, Any]:
        """Return the whole batch."""
        return xb, yb

    def rows(self, n: int) -> tuple[int, int]:
        """All rows."""
        return 0, n

    def allreduce_grads(self, params: Sequence[Any], n_local: int, n_global: int) -> None:
        """Leave the gradients (already the batch mean)."""

    def reduce_metrics(self, *values: float) -> tuple[float, ...]:
        """Return the values."""
        return values

    def evaluate(
        self, model: Model, x: Any, y: Any, cfg: TrainConfig, batch_size: int = 256
    ) -> dict[str, float]:
        """Evaluate in this process."""
        return self._evaluate(model, x, y, cfg, batch_size)

    def callbacks(self, callbacks: Sequence[Any]) -> list[Any]:
        """Run every callback."""
        return list(callbacks)


def is_distributed(distributed: bool | None) -> bool:
    """Whether a ``fit(distributed=...)`` call trains over several processes.

    True: always (one rank without a launcher); False: never; None: when the launcher
    started more than one rank.

    Raises:
        GlassnetError: if ``distributed`` is not True, False or None.
    """
    if distributed is not None and not isinstance(distributed, bool):
        raise GlassnetError(f"fit: distributed={distributed!r} must be True, False or None")
    return distributed is True or (distributed is None and launcher_size() > 1)


def choose(
    distributed: bool | None,
    factory: StrategyFactory | None,
    model: Model,
    *,
    batch_size: int,
    samples: int,
    rng: np.random.Generator | None,
) -> Strategy | None:
    """The strategy of one ``fit`` call; None for the one-process default.

    Raises:
        GlassnetError: ``distributed`` not a bool or None, or a distributed run without a
            factory (the caller bypassed the engine that ``glassnet/__init__.py`` installs).
    """
    if not is_distributed(distributed):
        return None
    if factory is None:
        raise GlassnetError(
            "fit: distributed training needs glassnet.dist; call it through model.fit(...)"
        )
    return factory(model, batch_size=batch_size, samples=samples, rng=rng)
