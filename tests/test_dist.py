"""glassnet.dist without MPI: flat packing, shard bounds, and DataParallel on threads.

A ``ThreadComm`` stands in for an mpi4py communicator (Allreduce, Bcast with the same
signatures), so the reduction arithmetic is checked here for 2 and 3 "ranks" in one process;
``tests/test_dist_mpi.py`` runs the real thing under ``mpiexec``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from glassnet.dist import DataParallel, FlatBuffer, abort_on_error, data_parallel, shard_bounds
from glassnet.dist import world as W
from glassnet.errors import GlassnetError, ShapeError
from glassnet.training import Callback, CSVLogger, EarlyStopping, ModelCheckpoint

FAKE_MPI = SimpleNamespace(IN_PLACE="in-place", SUM="sum", MAX="max")


class ThreadComm:
    """The subset of an mpi4py communicator DataParallel uses, for ranks that are threads."""

    def __init__(self, shared: dict[str, Any], rank: int, size: int) -> None:
        self.shared, self.rank, self.size = shared, rank, size

    def Get_rank(self) -> int:  # noqa: N802 - mpi4py's names
        return self.rank

    def Get_size(self) -> int:  # noqa: N802
        return self.size

    def _exchange(self, buf: np.ndarray) -> list[np.ndarray]:
        self.shared["slots"][self.rank] = buf.copy()
        self.shared["barrier"].wait()
        slots = list(self.shared["slots"])
        self.shared["barrier"].wait()
        return slots

    def Allreduce(self, sendbuf: Any, recvbuf: np.ndarray, op: str) -> None:  # noqa: N802
        assert sendbuf == "in-place"
        slots = self._exchange(recvbuf)
        recvbuf[...] = np.sum(slots, axis=0) if op == "sum" else np.max(slots, axis=0)

    def Bcast(self, buf: np.ndarray, root: int = 0) -> None:  # noqa: N802
        buf[...] = self._exchange(buf)[root]


def on_ranks(size: int, body: Callable[[DataParallel], Any]) -> list[Any]:
    """Run ``body(dp)`` on ``size`` threads, each with its own DataParallel; return results."""
    shared = {"slots": [None] * size, "barrier": threading.Barrier(size, timeout=10)}
    dps = [DataParallel(ThreadComm(shared, r, size), threads=1, mpi_module=FAKE_MPI)
           for r in range(size)]
    with ThreadPoolExecutor(size) as pool:
        return list(pool.map(body, dps))


# ----- FlatBuffer ------------------------------------------------------------------------------
def test_flat_buffer_views_share_one_contiguous_array() -> None:
    arrays = [np.arange(6.0).reshape(2, 3), np.array([7.0]), np.ones((2, 1, 2))]
    flat = FlatBuffer.like(arrays)
    assert flat.data.shape == (11,) and flat.data.flags.c_contiguous and flat.nbytes == 88
    flat.pack(arrays, scale=0.5)
    np.testing.assert_array_equal(flat.data, np.concatenate([a.ravel() for a in arrays]) * 0.5)
    for view, a in zip(flat.views, arrays, strict=True):
        assert view.shape == a.shape and np.shares_memory(view, flat.data)
    flat.data *= 4
    out = [np.empty_like(a) for a in arrays]
    flat.unpack(out)
    for o, a in zip(out, arrays, strict=True):
        np.testing.assert_array_equal(o, 2 * a)


def test_flat_buffer_none_packs_zeros_and_keeps_dtype() -> None:
    flat = FlatBuffer([(2,), (3,)], np.float32)
    flat.data[:] = 9
    flat.pack([np.array([1.0, 2.0], np.float32), None], scale=2.0)
    assert flat.data.dtype == np.float32
    np.testing.assert_array_equal(flat.data, [2, 4, 0, 0, 0])


def test_flat_buffer_rejects_a_wrong_shape_or_count() -> None:
    flat = FlatBuffer([(2, 2)], np.float64)
    msg = r"array 0 has shape \[4\]; the buffer's slot 0 is \[2, 2\]"
    with pytest.raises(ShapeError, match=msg):
        flat.pack([np.zeros(4)])
    with pytest.raises(ShapeError, match="got 2 arrays; the buffer holds 1"):
        flat.unpack([np.zeros((2, 2)), np.zeros(1)])


# ----- sharding ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
def test_shard_bounds_tile_the_batch_in_order_and_differ_by_at_most_one(size: int) -> None:
    for n in range(0, 40):
        bounds = [shard_bounds(n, r, size) for r in range(size)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
        lengths = [stop - start for start, stop in bounds]
        assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


# ----- DataParallel on threads -----------------------------------------------------------------
def _param(g: np.ndarray | None, data: np.ndarray | None = None) -> SimpleNamespace:
    return SimpleNamespace(data=np.zeros(3) if data is None else data, grad=g)


@pytest.mark.parametrize(("size", "n"), [(2, 16), (2, 5), (3, 7), (3, 2)])
def test_allreduce_grads_gives_the_global_batch_mean(size: int, n: int) -> None:
    """Per-sample gradients g_i: each rank holds its shard's mean; the result is the full mean.

    (3, 2): one rank has no sample; the second parameter gets no gradient anywhere -> None.
    """
    per_sample = np.random.default_rng(0).standard_normal((n, 3))
    moving = np.random.default_rng(1).standard_normal((size, 2))

    def body(dp: DataParallel) -> tuple[Any, Any, Any]:
        start, stop = shard_bounds(n, dp.rank, size)
        grad = per_sample[start:stop].mean(axis=0) if stop > start else None
        params = [_param(grad), _param(None)]
        buf = moving[dp.rank].copy()
        dp.allreduce_grads(params, stop - start, n, buffers=[buf])
        return params[0].grad.copy(), params[1].grad, buf

    shares = np.array([np.subtract(*shard_bounds(n, r, size)[::-1]) / n for r in range(size)])
    for grad, unused, buf in on_ranks(size, body):
        np.testing.assert_allclose(grad, per_sample.mean(axis=0), rtol=0, atol=1e-15)
        assert unused is None
        np.testing.assert_allclose(buf, shares @ moving, rtol=0, atol=1e-15)


def test_broadcast_params_and_reduce_metrics() -> None:
    def body(dp: DataParallel) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
        p, buf = _param(None, np.full(3, float(dp.rank + 1))), np.full(2, -float(dp.rank))
        dp.broadcast_params([p], [buf])
        return p.data, buf, dp.reduce_metrics(1.5, dp.rank, 10)

    for data, buf, metrics in on_ranks(3, body):
        np.testing.assert_array_equal(data, [1, 1, 1])
        np.testing.assert_array_equal(buf, [0, 0])
        assert metrics == (4.5, 3.0, 30.0)


def test_batch_size_not_divisible_names_both_numbers() -> None:
    def body(dp: DataParallel) -> None:
        dp.check_batch_size(129)
        with pytest.raises(GlassnetError, match=r"batch_size=130 is not divisible by the 3 MPI "
                                                r"ranks.*multiple of 3, e\.g\. 129 or 132"):
            dp.check_batch_size(130)
        with pytest.raises(GlassnetError, match=r"e\.g\. 3$"):
            dp.check_batch_size(2)

    on_ranks(3, body)


def test_check_same_catches_ranks_that_disagree() -> None:
    def body(dp: DataParallel) -> str:
        dp.check_same(samples=100)
        try:
            dp.check_same(samples=100 + dp.rank)
        except GlassnetError as exc:
            return str(exc)
        return ""

    for msg in on_ranks(2, body):
        assert msg == ("fit: samples differs between the 2 MPI ranks (from 100 to 101); every "
                       "rank must see the same data, seed and batch size")


def test_only_rank_zero_keeps_the_file_writing_callbacks() -> None:
    cbs = [EarlyStopping("loss"), ModelCheckpoint("m.npz"), CSVLogger("log.csv")]
    kept = on_ranks(2, lambda dp: [type(cb).__name__ for cb in dp.callbacks(cbs)])
    assert kept == [["EarlyStopping", "ModelCheckpoint", "CSVLogger"], ["EarlyStopping"]]


def test_a_subclass_of_a_file_writer_is_root_only_too() -> None:
    class EveryEpochCheckpoint(ModelCheckpoint):  # a user's own: same files, so rank 0 only
        pass

    class Printer(Callback):  # writes nothing: runs everywhere
        pass

    class MyWriter(Callback):  # a user's file writer opts in
        root_only = True

    cbs = [EveryEpochCheckpoint("m.npz"), Printer(), MyWriter()]
    kept = on_ranks(2, lambda dp: [type(cb).__name__ for cb in dp.callbacks(cbs)])
    assert kept == [["EveryEpochCheckpoint", "Printer", "MyWriter"], ["Printer"]]


# ----- world detection, guard, threads ---------------------------------------------------------
def test_not_distributed_without_a_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in W.SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert W.launcher_size() == 1 and W.world() is None and W.rank() == 0 and W.is_root()
    assert data_parallel(None, None, batch_size=3, samples=10) is None
    assert data_parallel(False, None, batch_size=3, samples=10) is None
    with pytest.raises(GlassnetError, match=r"distributed='yes' must be True, False or None"):
        data_parallel("yes", None, batch_size=3, samples=10)  # type: ignore[arg-type]


def test_launcher_size_reads_the_launchers_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in W.SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PMI_SIZE", "4")
    assert W.launcher_size() == 4


def test_abort_on_error_outside_mpi_just_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), abort_on_error(None):
        raise RuntimeError("boom")


def test_abort_on_error_aborts_with_the_rank_and_message(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    codes: list[int] = []
    comm = SimpleNamespace(Get_size=lambda: 2, Get_rank=lambda: 1, Abort=codes.append)
    monkeypatch.setattr(W.os, "_exit", lambda code: codes.append(-code))
    monkeypatch.setattr(W, "ABORT_DELAY_S", 0.0)
    with abort_on_error(comm):
        raise GlassnetError("bad input")
    with abort_on_error(comm):
        raise KeyError("x")
    assert codes == [2, -2, 1, -1]
    assert capsys.readouterr().err.splitlines() == ["rank 1: GlassnetError: bad input",
                                                    "rank 1: KeyError: 'x'"]


def test_glassnet_threads_must_be_a_positive_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSNET_THREADS", "two")
    with pytest.raises(GlassnetError, match=r"GLASSNET_THREADS='two' must be a positive integer"):
        W.limit_blas_threads(None, default=1)


def test_bench_mpi_rejects_a_batch_not_divisible_by_a_rank_count() -> None:
    from glassnet.dist import bench_mpi

    with pytest.raises(GlassnetError, match=r"batch 127 must be a multiple of every rank count; "
                                            r"not of \[2\]"):
        bench_mpi(["lenet5"], batch=127)


def test_format_mpi_shows_speedup_and_efficiency() -> None:
    from glassnet.dist import format_mpi

    rows = [{"model": "lenet5", "ranks": r, "images_per_s": ips, "speedup": s, "efficiency": e}
            for r, ips, s, e in ((1, 1000.0, 1.0, 1.0), (2, 1800.0, 1.8, 0.9))]
    text = format_mpi({"batch": 128, "steps": 20, "rounds": 3, "threads": 1, "results": rows})
    assert "global batch 128" in text and "1 BLAS thread(s) per rank" in text
    assert text.splitlines()[-1].split() == ["lenet5", "2", "1,800", "1.80", "90%"]
