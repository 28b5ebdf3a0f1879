"""Data-parallel training over MPI: the hooks ``fit`` calls when it runs on several ranks.

Every rank holds the whole model and the whole data set and draws the same batch order. Each
global batch of B samples is split into contiguous shards, one per rank; each rank computes the
mean gradient of its shard, and one in-place ``Allreduce`` over a flat buffer sums
``(n_local / n_global) · local mean`` into the global batch mean, bit-for-bit the same on every
rank, so the identical optimizer step keeps the ranks in lockstep. See ``docs/distributed.md``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from glassnet.dist import world
from glassnet.dist.flat import FlatBuffer
from glassnet.errors import GlassnetError
from glassnet.models.graph import Model
from glassnet.training import loop
from glassnet.training.callbacks import Callback
from glassnet.training.strategy import is_distributed


def model_buffers(model: Model) -> list[Any]:
    """Every non-trainable state array of ``model`` (BatchNorm moving statistics), in order."""
    return [buf for layer in model.layers for buf in layer.buffers.values()]


def shard_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of a batch of ``n`` that ``rank`` of ``size`` takes.

    As even as possible: the first ``n mod size`` ranks take one row more, so shards differ by
    at most one row (a batch smaller than the world leaves the last ranks empty).
    """
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class DataParallel:
    """One rank's view of data-parallel training: shard, allreduce, reduce, broadcast.

    Args:
        comm: an mpi4py communicator (default ``MPI.COMM_WORLD``).
        threads: BLAS threads of this rank; ``None``: ``$GLASSNET_THREADS``, else this rank's
            cores divided by the ranks sharing them.
        mpi_module: the module giving ``IN_PLACE``, ``SUM`` and ``MAX`` (default ``mpi4py.MPI``;
            tests pass a stand-in together with a fake ``comm``).
    """

    def __init__(
        self, comm: Any = None, *, threads: int | None = None, mpi_module: Any = None
    ) -> None:
        self.mpi = mpi_module if mpi_module is not None else world.mpi()
        self.comm = comm if comm is not None else self.mpi.COMM_WORLD
        self.rank, self.size = int(self.comm.Get_rank()), int(self.comm.Get_size())
        default = 1 if mpi_module is not None else world.default_threads(self.comm)
        self.threads = world.limit_blas_threads(threads, default)
        self.model: Model | None = None
        self._flat: FlatBuffer | None = None

    @property
    def is_root(self) -> bool:
        """True on rank 0: it alone prints progress and writes files."""
        return self.rank == 0

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, size={self.size}, threads={self.threads})"

    # ----- set-up ------------------------------------------------------------------------------
    def check_batch_size(self, batch_size: int) -> None:
        """Require a global batch that splits evenly over the ranks.

        Raises:
            GlassnetError: naming the batch size and the number of ranks.
        """
        if batch_size % self.size:
            low = batch_size - batch_size % self.size
            hint = f"{low} or {low + self.size}" if low else f"{self.size}"
            raise GlassnetError(
                f"fit: batch_size={batch_size} is not divisible by the {self.size} MPI ranks "
                f"(each rank takes batch_size / ranks samples of every batch); use a multiple "
                f"of {self.size}, e.g. {hint}"
            )

    def check_same(self, **values: int) -> None:
        """Require each named integer to be equal on every rank (one small collective).

        Raises:
            GlassnetError: on every rank, naming the value and its range over the ranks.
        """
        keys = sorted(values)
        both = np.array([v for k in keys for v in (values[k], -values[k])], dtype=np.float64)
        self.comm.Allreduce(self.mpi.IN_PLACE, both, op=self.mpi.MAX)
        for i, key in enumerate(keys):
            high, low = both[2 * i], -both[2 * i + 1]
            if high != low:
                raise GlassnetError(
                    f"fit: {key} differs between the {self.size} MPI ranks (from {low:.0f} to "
                    f"{high:.0f}); every rank must see the same data, seed and batch size"
                )

    def prepare(self, model: Model) -> None:
        """Give every rank rank 0's weights, buffers and layer random streams.

        NOTE: the streams stay equal on every rank: a Dropout layer draws the mask of the whole
        global batch and keeps its shard's rows (``glassnet.layers.batchrows``), so the masks,
        like the weights, do not depend on the number of ranks.
        """
        self.model = model
        self.broadcast_params(model.parameters(), model_buffers(model))
        states = [(i, layer.rng.bit_generator.state) for i, layer in enumerate(model.layers)
                  if isinstance(getattr(layer, "rng", None), np.random.Generator)]
        for i, state in self.comm.bcast(states, root=0):
            model.layers[i].rng.bit_generator.state = state  # type: ignore[attr-defined]

    def broadcast_params(self, params: Sequence[Any], buffers: Sequence[Any] = ()) -> None:
        """Overwrite every rank's parameters (and buffers) with rank 0's: one ``Bcast``."""
        arrays = [p.data for p in params] + list(buffers)
        flat = FlatBuffer.like(arrays)
        if self.is_root:
            flat.pack(arrays)
        self.comm.Bcast(flat.data, root=0)
        flat.unpack(arrays)

    # ----- per step ----------------------------------------------------------------------------
    def shard(self, xb: Any, yb: Any) -> tuple[Any, Any]:
        """Return this rank's contiguous share of a global batch (views, no copy).

        Shapes:
            xb: (B, ...), yb: (B, ...) -> (B_r, ...), (B_r, ...) with B_r = B / ranks for full
            batches and the last batch split as evenly as possible.
        """
        start, stop = self.rows(len(xb))
        return xb[start:stop], yb[start:stop]

    def rows(self, n: int) -> tuple[int, int]:
        """Rows ``[start, stop)`` of a global batch of ``n`` this rank takes (see shard)."""
        return shard_bounds(n, self.rank, self.size)

    def allreduce_grads(
        self,
        params: Sequence[Any],
        n_local: int,
        n_global: int,
        buffers: Sequence[Any] | None = None,
    ) -> None:
        """Replace each ``p.grad`` by the global batch mean: one in-place ``Allreduce``.

        Each rank packs ``(n_local / n_global) · grad`` (its shard's mean gradient weighted by its
        share) and the buffers (BatchNorm moving statistics, weighted the same way) into one flat
        buffer of the model's dtype, plus one has-gradient flag per parameter. After the sum,
        ``p.grad`` is a view of the buffer, or None where no rank had a gradient (so the
        optimizer skips that parameter exactly as plain ``fit`` does).

        Args:
            params: the parameters, in the same order on every rank.
            n_local: samples of this rank's shard (0: contributes nothing).
            n_global: samples of the global batch.
            buffers: state arrays to average in place (default: the prepared model's).
        """
        if buffers is None:
            buffers = [] if self.model is None else model_buffers(self.model)
        bufs = list(buffers)
        grads = [p.grad if n_local else None for p in params]
        flat = self._flat_for([p.data for p in params], bufs)
        flat.pack([*grads, *bufs, None], scale=n_local / n_global)
        flat.views[-1][:] = [g is not None for g in grads]
        self.comm.Allreduce(self.mpi.IN_PLACE, flat.data, op=self.mpi.SUM)
        flags = flat.views[-1]
        for p, view, flag in zip(params, flat.views, flags, strict=False):
            p.grad = view if flag > 0 else None
        for buf, view in zip(bufs, flat.views[len(grads) : -1], strict=True):
            buf[...] = view

    def _flat_for(self, weights: list[Any], bufs: list[Any]) -> FlatBuffer:
        """The step buffer (gradients, buffers, one flag per weight), allocated once."""
        shapes = [tuple(np.shape(a)) for a in weights + bufs] + [(len(weights),)]
        if self._flat is None or self._flat.shapes != shapes:
            self._flat = FlatBuffer(shapes, weights[0].dtype)
        return self._flat

    def reduce_metrics(self, *values: float) -> tuple[float, ...]:
        """Sum each value (loss sums, correct counts, sample counts) over the ranks (float64)."""
        sums = np.array(values, dtype=np.float64)
        self.comm.Allreduce(self.mpi.IN_PLACE, sums, op=self.mpi.SUM)
        return tuple(float(v) for v in sums)

    # ----- per epoch ---------------------------------------------------------------------------
    def evaluate(
        self, model: Model, x: Any, y: Any, cfg: loop.TrainConfig, batch_size: int = 256
    ) -> dict[str, float]:
        """Mean loss (and accuracy) over (x, y), each rank evaluating a contiguous shard."""
        start, stop = shard_bounds(len(x), self.rank, self.size)
        logs = loop.evaluate(model, x[start:stop], y[start:stop], cfg, batch_size)
        n = stop - start
        keys = sorted(logs)
        *sums, total = self.reduce_metrics(*(logs[k] * n for k in keys), n)
        return {k: s / max(total, 1) for k, s in zip(keys, sums, strict=True)}

    def callbacks(self, callbacks: Sequence[Callback]) -> list[Callback]:
        """The callbacks this rank runs: all on rank 0; elsewhere all but the file writers.

        File writers say ``root_only = True`` (ModelCheckpoint, CSVLogger, JSONLogger and their
        subclasses). Callbacks that decide (EarlyStopping) run everywhere: they see the same
        reduced logs, so every rank stops at the same epoch.
        """
        if self.is_root:
            return list(callbacks)
        return [cb for cb in callbacks if not getattr(cb, "root_only", False)]


def rng_fingerprint(rng: np.random.Generator | None) -> int:
    """A 32-bit checksum of a generator's state (ranks compare them before training)."""
    if rng is None:
        return 0
    return zlib.crc32(json.dumps(rng.bit_generator.state, sort_keys=True).encode())


def data_parallel(
    distributed: bool | None,
    model: Model,
    *,
    batch_size: int,
    samples: int,
    rng: np.random.Generator | None = None,
    threads: int | None = None,
) -> DataParallel | None:
    """The :class:`DataParallel` for one ``fit`` call, ready to train; None when not distributed.

    Args:
        distributed: True: train over ``MPI.COMM_WORLD`` (one rank without a launcher); False:
            never; None: when the launcher started more than one rank.
        model: the model (weights and buffers are broadcast from rank 0).
        batch_size: the global batch size (a multiple of the number of ranks).
        samples: training samples (must agree on every rank).
        rng: the batch-order generator (its state must agree on every rank).
        threads: BLAS threads per rank (default: ``$GLASSNET_THREADS``, else this rank's cores
            divided by the ranks sharing them).

    Raises:
        GlassnetError: mpi4py missing; ``distributed`` not a bool or None; a batch size not
            divisible by the number of ranks; samples or batch order differing between ranks.
    """
    if not is_distributed(distributed):
        return None
    dp = DataParallel(threads=threads)
    dp.check_batch_size(batch_size)
    dp.check_same(samples=samples, batch_size=batch_size, batch_order=rng_fingerprint(rng))
    dp.prepare(model)
    return dp
