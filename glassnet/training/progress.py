"""A rich progress bar per epoch: batches, running loss and accuracy, images/s, ETA (stderr)."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any


class EpochProgress:
    """Progress of one epoch; a no-op with ``verbose=0``.

    Args:
        epoch: this epoch's number (1-based).
        epochs: the last epoch's number.
        samples: samples in the epoch.
        steps: batches in the epoch.
        verbose: 0 silent, 1 a live bar (and a summary line at the end), 2 only the line.
    """

    def __init__(self, epoch: int, epochs: int, samples: int, steps: int, verbose: int) -> None:
        self.epoch, self.epochs, self.samples, self.steps = epoch, epochs, samples, steps
        self.verbose = verbose
        self.start = time.perf_counter()
        self.done = 0
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> EpochProgress:
        if self.verbose == 1:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn(f"epoch {self.epoch}/{self.epochs}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("train", total=self.steps, stats="")
        return self

    def advance(self, n: int, loss: float, accuracy: float | None) -> None:
        """Record one finished batch of ``n`` samples with the running loss and accuracy."""
        self.done += n
        if self._progress is None:
            return
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        acc = f" acc {accuracy:.4f}" if accuracy is not None else ""
        self._progress.update(
            self._task, advance=1, stats=f"loss {loss:.4f}{acc} {rate:,.0f} img/s"
        )

    def finish(self, logs: dict[str, float]) -> None:
        """Print the epoch's summary line (stderr)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self.verbose:
            secs = time.perf_counter() - self.start
            stats = " ".join(f"{k} {v:.4f}" for k, v in logs.items())
            rate = self.done / max(secs, 1e-9)
            print(
                f"epoch {self.epoch}/{self.epochs}  {stats}  {secs:.1f}s  {rate:,.0f} img/s",
                file=sys.stderr,
            )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
