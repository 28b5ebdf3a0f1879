"""Small-batch Dense layers: ``x·W + b`` and an optional softmax over each row, one call.

At batch 1 :func:`glassnet.ops.basic.dense_forward` plus a softmax cost more in NumPy calls
than in arithmetic. Here one numba call does both; a large layer's columns are split over the
threads (:func:`glassnet.accel.parallel.chunks`), and with a few rows and a large matrix the
weight rows are streamed once (:func:`glassnet.accel.small_batch_kernels.stream_product`) instead of
the GEMM, which packed them first: at batch 1 reading the weights is the work
(docs/performance.md, rules table). Sums in another order than the reference: equal to
rounding. :func:`glassnet.accel.small_batch.usable` says when these run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.accel import blas, parallel, spin
from glassnet.accel.small_batch import AVAILABLE, FEW_POSITIONS, STREAM_MIN_VALUES, contiguous

Array = Any
# Weight values each thread's block must hold before a streamed product is split (4 MiB in
# float32: past a core's L2; see row_blocks).
STREAM_SPLIT_MIN_VALUES = 1_048_576

if AVAILABLE:  # pragma: no branch
    from numba import njit

    from glassnet.accel.small_batch_kernels import stream_product  # defined only with numba

    @njit(cache=True, nogil=True)
    def _softmax_rows(out):  # type: ignore[no-untyped-def]
        """exp(out − max) / Σ along each row, in place.

        Shapes:
            out: (N, M)
        """
        for r in range(out.shape[0]):
            row = out[r]
            top = row[0]
            for j in range(1, row.size):
                top = max(top, row[j])
            total = out.dtype.type(0)
            for j in range(row.size):
                row[j] = np.exp(row[j] - top)
                total += row[j]
            for j in range(row.size):
                row[j] /= total

    @njit(cache=True, nogil=True)
    def _dense_cols(x, w, bias, out, j0, j1, gemm_at):  # type: ignore[no-untyped-def]
        """Compute out[:, j0:j1] = x·w[:, j0:j1] + bias[j0:j1] (one thread's columns).

        Shapes:
            x: (N, K); w: (K, M); bias: (M,) or (0,); out: (N, M), all C-contiguous
        """
        n, k = x.shape
        m, isz = w.shape[1], w.itemsize
        blas.gemm(gemm_at, blas.NO_TRANS, blas.NO_TRANS, n, j1 - j0, k, x.ctypes.data, k,
                  w.ctypes.data + j0 * isz, m, out.dtype.type(0),
                  out.ctypes.data + j0 * isz, m)
        if bias.size:
            bs = bias[j0:j1]
            for r in range(n):
                row = out[r, j0:j1]
                for j in range(row.size):
                    row[j] += bs[j]

    @njit(cache=True, nogil=True)
    def _dense_stream_cols(x, w, bias, out, j0, j1):  # type: ignore[no-untyped-def]
        """Compute out[:, j0:j1] = x·w[:, j0:j1] + bias[j0:j1] by streaming w's rows.

        Shapes:
            x: (N, K); w: (K, M); bias: (M,) or (0,); out: (N, M), all C-contiguous
        """
        acc = np.empty((x.shape[0], j1 - j0), dtype=out.dtype)
        stream_product(x, w, j0, j1, acc)
        for r in range(x.shape[0]):
            row, a = out[r, j0:j1], acc[r]
            if bias.size:
                bs = bias[j0:j1]
                for j in range(row.size):
                    row[j] = a[j] + bs[j]
            else:
                for j in range(row.size):
                    row[j] = a[j]

    @njit(cache=True, nogil=True)
    def _dense_stream_rows(x, w, k0, k1, acc, sync, started, done, post, seen):  # type: ignore[no-untyped-def]
        """Compute acc = x[:, k0:k1]·w[k0:k1]: one thread's block of weight ROWS, streamed once.

        A :func:`glassnet.accel.parallel.run_kernel` part (no GIL between the threads).

        Shapes:
            x: (N, K); w: (K, M); acc: (N, M), all C-contiguous
        """
        spin.signal(sync, started)
        stream_product(x[:, k0:k1], w[k0:k1], 0, w.shape[1], acc)
        spin.finish(sync, done, post, seen)

    @njit(cache=True, nogil=True)
    def _add_parts(parts, bias, out):  # type: ignore[no-untyped-def]
        """Compute out = Σ_t parts[t] (in order t = 0, 1, …) + bias.

        Shapes:
            parts: (T, N, M); bias: (M,) or (0,); out: (N, M)
        """
        for r in range(out.shape[0]):
            row = out[r]
            first = parts[0, r]
            for j in range(row.size):
                row[j] = first[j]
            for t in range(1, parts.shape[0]):
                more = parts[t, r]
                for j in range(row.size):
                    row[j] += more[j]
            if bias.size:
                for j in range(row.size):
                    row[j] += bias[j]

    @njit(cache=True, nogil=True)
    def dense_kernel(x, w, bias, out, gemm_at, softmax):  # type: ignore[no-untyped-def]
        """Compute out = x·w + bias, then (softmax) exp(out − max) / Σ along each row.

        Shapes:
            x: (N, K); w: (K, M); bias: (M,) or (0,); out: (N, M), all C-contiguous
        """
        _dense_cols(x, w, bias, out, 0, w.shape[1], gemm_at)
        if softmax:
            _softmax_rows(out)


def row_blocks(k: int, values: int) -> list[tuple[int, int]]:
    """The blocks of weight rows the threads stream, one each (one block: no split).

    A matrix this size is read from memory, not the caches, whatever the order; a second core
    adds memory bandwidth when each streams its own contiguous block of at least
    :data:`STREAM_SPLIT_MIN_VALUES` (VGG-11 at batch 1, in the model, same plan toggled
    between forwards: fc2 4096×4096 2.86 → 2.10 ms, fc1 512×4096 0.52 → 0.41 ms; half each of
    every row instead was slower than one thread; docs/performance.md, rules table).

    Args:
        k: the matrix's rows.
        values: its size (rows × columns).
    """
    parts = max(min(parallel.num_threads(), k, values // STREAM_SPLIT_MIN_VALUES), 1)
    cuts = [k * t // parts for t in range(parts + 1)]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def dense(x: Array, w: Array, b: Array | None, softmax: bool) -> Array:
    """``x·w + b``, then a softmax over each row if asked (``small_batch.usable`` true).

    Shapes:
        x: (N, K); w: (K, M); b: (M,) -> out: (N, M)
    """
    out = np.empty((x.shape[0], w.shape[1]), dtype=x.dtype)
    bias = np.zeros(0, dtype=x.dtype) if b is None else contiguous(b)
    xc, wc, gemm_at = contiguous(x), contiguous(w), blas.gemm_address(x.dtype)
    # A big layer's weights are read once per call whatever the batch: reading them is the
    # work at batch 1 (VGG's 4096×4096 classifier: 67 MB), so its columns are split over the
    # threads like any op that touches that many values (parallel.chunks).
    ranges = parallel.chunks(w.shape[1], w.size)
    # A few rows times a large matrix: stream its rows (the GEMM packed them first, reading
    # them twice: VGG-11's 4096×4096 fc2 at batch 1, 12.8 → 3.2 ms).
    if x.shape[0] <= FEW_POSITIONS and w.size >= STREAM_MIN_VALUES:
        # Split by weight ROWS (row_blocks): each thread streams one contiguous block of the
        # matrix into its own accumulator, the blocks added after.
        blocks = row_blocks(w.shape[0], w.size)
        if len(blocks) == 1:
            _dense_stream_cols(xc, wc, bias, out, 0, w.shape[1])
        else:
            parts = np.empty((len(blocks), *out.shape), dtype=out.dtype)
            parallel.run_kernel(_dense_stream_rows, [
                (xc, wc, k0, k1, part) for (k0, k1), part in zip(blocks, parts, strict=True)])
            _add_parts(parts, bias, out)
    elif len(ranges) == 1:
        dense_kernel(xc, wc, bias, out, gemm_at, softmax)
        return out
    else:
        parallel.run(lambda j0, j1: _dense_cols(xc, wc, bias, out, j0, j1, gemm_at), ranges)
    if softmax:
        _softmax_rows(out)
    return out
