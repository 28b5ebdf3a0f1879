"""The MPI world: is this process one rank of several, which rank, BLAS threads, fault guard.

Whether a process runs under a launcher is read from the environment that every common
launcher sets (``mpiexec`` of MPICH/Intel MPI: ``PMI_SIZE``; Open MPI: ``OMPI_COMM_WORLD_SIZE``;
MVAPICH: ``MV2_COMM_WORLD_SIZE``; Slurm ``srun``: ``SLURM_STEP_NUM_TASKS``), so a plain
``python`` run never imports mpi4py nor initialises MPI. Under a launcher, mpi4py's
``COMM_WORLD`` is the truth. The variables are read by
:func:`glassnet.training.strategy.launcher_size` (re-exported here), which ``fit`` calls
without importing dist.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any

from glassnet.errors import GlassnetError
from glassnet.training.strategy import SIZE_VARIABLES, launcher_size

__all__ = [
    "SIZE_VARIABLES",
    "abort_on_error",
    "cores",
    "default_threads",
    "describe",
    "is_root",
    "launcher_size",
    "limit_blas_threads",
    "mpi",
    "rank",
    "size",
    "world",
]

ABORT_DELAY_S = 1.0  # seconds a failing rank waits between its message and MPI_Abort
_THREADS: dict[str, Any] = {}  # the threadpoolctl limiter in force, set once per process


def mpi() -> Any:
    """Return ``mpi4py.MPI`` (importing it initialises MPI).

    Raises:
        GlassnetError: if mpi4py is not installed (names the package extra to install).
    """
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise GlassnetError(
            f"distributed training needs mpi4py ({exc}); install it with "
            "`pip install 'glassnet[mpi]'` (or `pip install mpi4py mpich`)"
        ) from None
    return MPI


def world() -> Any:
    """``MPI.COMM_WORLD`` when the launcher started more than one rank, else ``None``.

    Raises:
        GlassnetError: under a multi-rank launcher without mpi4py (else every rank would
            silently train its own copy).
    """
    if launcher_size() <= 1:
        return None
    return mpi().COMM_WORLD


def rank() -> int:
    """Return this process's rank in the world (0 when not under a multi-rank launcher)."""
    comm = world()
    return 0 if comm is None else int(comm.Get_rank())


def size() -> int:
    """Ranks in the world (1 when not under a multi-rank launcher)."""
    comm = world()
    return 1 if comm is None else int(comm.Get_size())


def is_root() -> bool:
    """True on rank 0, the rank that prints, writes checkpoints and plots."""
    return rank() == 0


def cores() -> set[int]:
    """The CPU cores this process may run on."""
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return set(range(os.cpu_count() or 1))


def default_threads(comm: Any) -> int:
    """BLAS threads for this rank: its cores divided among the ranks of ``comm`` sharing them.

    Ranks a launcher bound to disjoint cores (``srun --cpus-per-task=4``) keep all of theirs;
    unbound ranks on one machine (plain ``mpiexec``) split its cores. Collective on ``comm``.
    """
    mine = cores()
    if comm is None or int(comm.Get_size()) == 1:
        return max(len(mine), 1)
    node = comm.Split_type(mpi().COMM_TYPE_SHARED)
    try:
        others = node.allgather(sorted(mine))
    finally:
        node.Free()
    sharing = sum(1 for cpus in others if mine.intersection(cpus))
    return max(len(mine) // max(sharing, 1), 1)


def limit_blas_threads(threads: int | None, default: int) -> int:
    """Limit BLAS/OpenMP threads of this process; return the limit in force.

    Args:
        threads: the wanted count; ``None`` = ``$GLASSNET_THREADS`` if set, else ``default``
            (see :func:`default_threads`), so the ranks of one machine do not fight over its
            cores.
        default: the count to use when neither is given.

    Returns:
        The thread limit applied (0 when threadpoolctl is missing and nothing was limited).

    Raises:
        GlassnetError: if ``threads`` or ``$GLASSNET_THREADS`` is not a positive integer.
    """
    env = os.environ.get("GLASSNET_THREADS", "").strip()
    if threads is None and env:
        if not env.isdigit() or int(env) < 1:
            raise GlassnetError(f"GLASSNET_THREADS={env!r} must be a positive integer")
        threads = int(env)
    if threads is not None and threads < 1:
        raise GlassnetError(f"threads={threads!r} must be a positive integer")
    wanted = threads if threads is not None else default
    if _THREADS.get("limit") == wanted:
        return wanted
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return 0
    old = _THREADS.get("limiter")
    if old is not None:
        old.restore_original_limits()
    _THREADS["limiter"] = threadpool_limits(limits=wanted)
    _THREADS["limit"] = wanted
    from glassnet.accel import parallel

    parallel.set_num_threads(wanted)  # ops split over these; the BLAS runs one per chunk
    return wanted


def describe(exc: BaseException) -> str:
    """``"GlassnetError: message"`` — the one line a failing rank prints."""
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def abort_on_error(comm: Any = None, *, show_traceback: bool = False) -> Iterator[None]:
    """Run a rank's body; on an exception print ``rank r: <error>`` and abort every rank.

    Without this, one rank that raises leaves the others blocked in their next collective and
    ``mpiexec`` hangs. ``MPI_Abort`` ends the whole job; the exit code is 2 for a
    :class:`GlassnetError` (bad input, as the CLI's own errors) and 1 for anything else.
    Outside a multi-rank world this is a no-op (the exception propagates).

    Args:
        comm: the communicator to abort (default: the world, if any).
        show_traceback: print the traceback before the one-line message (also when
            ``$GLASSNET_DEBUG`` is set).
    """
    comm = comm if comm is not None else world()
    try:
        yield
    except Exception as exc:
        if comm is None or int(comm.Get_size()) <= 1:
            raise
        if show_traceback or os.environ.get("GLASSNET_DEBUG"):
            traceback.print_exc()
        print(f"rank {comm.Get_rank()}: {describe(exc)}", file=sys.stderr, flush=True)
        code = 2 if isinstance(exc, GlassnetError) else 1
        # NOTE: MPI_Abort kills every rank at once and the launcher may drop output it has not
        # forwarded yet; a short pause lets this line (and those of ranks failing alike) out.
        time.sleep(ABORT_DELAY_S)
        comm.Abort(code)
        os._exit(code)  # NOTE: MPICH's MPI_Abort can return to the caller; never run on
