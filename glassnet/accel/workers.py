"""The worker pool behind :mod:`glassnet.accel.parallel`: threads that hand work over in µs.

A task is posted by putting it in the worker's queue and then moving the worker's counter;
an idle worker spins on its counter a few milliseconds (:mod:`glassnet.accel.spin`, GIL
released) before it sleeps in the queue, so a hand-off costs microseconds where waking a
sleeping thread costs tens (docs/performance.md, rules table). Results come back the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from queue import SimpleQueue
from typing import Any, TypeVar

import numpy as np

from glassnet.accel import spin

T = TypeVar("T")


class Workers:
    """``n`` worker threads fed through queues, woken by counters they spin on (accel.spin).

    ``counters[k]`` counts the tasks posted to worker k, ``counters[n + k]`` those it finished;
    each counter has one writer. A worker spins a few milliseconds for the next task before it
    blocks in its queue; the caller spins while waiting for results. Used by one caller at a
    time (a second caller runs its chunks itself).
    """

    WORKER_SPIN = spin.IDLE_ROUNDS  # rounds a worker waits for more work before sleeping
    CALLER_SPIN = 400_000  # rounds the caller spins for a chunk's result before blocking

    def __init__(self, n: int) -> None:
        self.n = n
        # posted[k], finished[k] (Python tasks); started[k], done[k] (kernel tasks: run_kernel)
        self.counters = np.zeros(4 * n, dtype=np.int64)
        self.errors: list[BaseException | None] = [None] * n
        self.tasks: list[SimpleQueue[Any]] = [SimpleQueue() for _ in range(n)]
        self.results: list[SimpleQueue[Any]] = [SimpleQueue() for _ in range(n)]
        self.busy = threading.Lock()
        for k in range(n):
            threading.Thread(target=self._loop, args=(k,), daemon=True,
                             name=f"glassnet-{k}").start()

    def _loop(self, k: int) -> None:
        seen = 0
        while True:
            spin.wait_while(self.counters, k, seen, self.WORKER_SPIN)
            task = self.tasks[k].get()  # at once after a spin that saw the post; else sleeps
            seen += 1
            if task is None:
                return
            if len(task) == 2:
                self._kernel_task(k, seen, *task)
                continue
            fn, lo, hi = task
            try:
                out = (True, fn(lo, hi))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, re-raised there
                out = (False, exc)
            self.results[k].put(out)
            self.counters[self.n + k] += 1

    def run(self, fn: Callable[[int, int], T], ranges: Sequence[tuple[int, int]]) -> list[T]:
        """``[fn(lo, hi) for lo, hi in ranges]``, the first range on the caller's thread."""
        if len(ranges) > self.n + 1 or not self.busy.acquire(blocking=False):
            return [fn(lo, hi) for lo, hi in ranges]  # in use by another thread: do it here
        try:
            finished = []
            for k, (lo, hi) in enumerate(ranges[1:]):
                finished.append(int(self.counters[self.n + k]))
                self.tasks[k].put((fn, lo, hi))  # the queue first: a worker that sees the count
                self.counters[k] += 1  # finds its task there
            try:
                first = fn(*ranges[0])
            finally:
                outs = []
                for k, before in enumerate(finished):
                    spin.wait_while(self.counters, self.n + k, before, self.CALLER_SPIN)
                    outs.append(self.results[k].get())
        finally:
            self.busy.release()
        for ok, value in outs:
            if not ok:
                raise value
        return [first, *(value for _, value in outs)]

    def _kernel_task(
        self, k: int, seen: int, kernel: Callable[..., None], args: tuple[Any, ...]
    ) -> None:
        started, done = 2 * self.n + k, 3 * self.n + k
        before = int(self.counters[started]), int(self.counters[done])
        try:
            # It signals both itself, GIL released, then waits there for the next post.
            kernel(*args, self.counters, started, done, k, seen)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, re-raised there
            self.errors[k] = exc
        # A kernel that failed, or never signalled: signal what it did not (else the caller
        # would wait forever).
        if self.counters[started] == before[0]:
            self.counters[started] += 1
        if self.counters[done] == before[1]:
            self.counters[done] += 1

    def _wait_change(self, index: int, seen: int) -> None:
        while not spin.wait_while(self.counters, index, seen, self.CALLER_SPIN):
            pass

    def run_kernel(self, kernel: Callable[..., None], parts: Sequence[tuple[Any, ...]]) -> None:
        """Run ``kernel(*parts[i], counters, started, done, post, seen)`` for every part.

        For work that must not hand the GIL back and forth: a worker waiting for the GIL
        sleeps, and waking it costs tens of µs — as long as a batch-1 convolution. So the caller
        posts the worker's part, then waits (GIL released) until the worker's kernel signals
        ``counters[started]`` from inside its nogil code; only then does it run its own part,
        and it waits for ``counters[done]`` (again signalled by the kernel), never for the
        worker's Python side; the kernel then waits for the next post (``counters[post]`` past
        ``seen``) before it returns to Python (:func:`glassnet.accel.spin.finish`). The caller's own
        part gets -1 for all three (no signals, no wait).
        """
        if len(parts) > self.n + 1 or not self.busy.acquire(blocking=False):
            for args in parts:  # in use by another thread: do it here
                kernel(*args, self.counters, -1, -1, -1, 0)
            return
        try:
            m, n = len(parts) - 1, self.n
            started = self.counters[2 * n : 2 * n + m].copy()
            done = self.counters[3 * n : 3 * n + m].copy()
            for k, args in enumerate(parts[1:]):
                self.errors[k] = None
                self.tasks[k].put((kernel, args))  # the queue first, then the count (below)
            spin.post_and_wait(self.counters, 0, m, 2 * n, started)
            try:
                kernel(*parts[0], self.counters, -1, -1, -1, 0)
            finally:
                for k in range(m):
                    self._wait_change(3 * n + k, int(done[k]))
            errors = [e for e in self.errors[:m] if e is not None]
        finally:
            self.busy.release()
        if errors:
            raise errors[0]

    def close(self) -> None:
        """Ask every worker to end (each returns after its current task)."""
        for k in range(self.n):
            self.tasks[k].put(None)
            self.counters[k] += 1
