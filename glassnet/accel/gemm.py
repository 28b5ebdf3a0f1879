"""Column-blocked GEMMs for the long, skinny products of im2col convolution.

A convolution's products have a short side (F filters, C·KH·KW window rows) and a very long one
(N·OH·OW output positions). OpenBLAS runs such shapes far below its peak; cutting the long side
into blocks of a few thousand columns and handing all blocks to ONE batched ``matmul`` call
keeps each block's operands in cache. The weight gradient is also computed as (cols·dOᵀ)ᵀ:
OpenBLAS prefers the long window side as the product's rows. Timings of both choices:
docs/performance.md, rules table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.backend import get_xp

Array = Any
BLOCK = 2048  # columns per block of a product written column by column
BLOCK_REDUCE = 1024  # columns per block of a product summed over the columns (dW)
SMALL_OUTPUT = 4096  # dW blocks only when F·C·KH·KW is at most this


def _blocks(a: Array, m: int) -> Array:
    """The first ``m`` column blocks of ``a`` [R, m·B + rest] as an (m, R, B) view."""
    return a[:, : m * (a.shape[1] // m)].reshape(a.shape[0], m, -1).transpose(1, 0, 2)


def matmul_into(a: Array, b: Array, out: Array) -> Array:
    """``out[...] = a @ b``, column block by column block.

    ``b`` and ``out`` may be views whose rows are further apart than their length (a batch
    chunk of a larger array); only their last axis must be contiguous.

    Shapes:
        a: (M, K); b: (K, P); out: (M, P)
    """
    xp = get_xp(a, b)
    m = b.shape[1] // BLOCK
    if xp is not np or m < 2:
        xp.matmul(a, b, out=out)
        return out
    q = m * BLOCK
    xp.matmul(a, _blocks(b[:, :q], m), out=_blocks(out[:, :q], m))
    if q < b.shape[1]:
        xp.matmul(a, b[:, q:], out=out[:, q:])
    return out


def matmul_nt(d: Array, c: Array) -> Array:
    """``d @ c.T`` — a sum over the long axis P — as Σ over column blocks of ``(c·dᵀ)ᵀ``.

    Shapes:
        d: (M, P); c: (N, P) -> (M, N)
    """
    xp = get_xp(d, c)
    m = c.shape[1] // BLOCK_REDUCE
    # Blocks pay for small outputs (few filters × short windows); for a large one one long
    # product was faster (docs/performance.md).
    if xp is not np or m < 2 or d.shape[0] * c.shape[0] > SMALL_OUTPUT:
        # NOTE: a one-column operand has strides matmul's BLAS path refuses (its own loop is
        # several times slower); dot copies it instead. Otherwise matmul (dot was slower).
        return (xp.dot(c, d.T) if c.shape[1] == 1 else xp.matmul(c, d.T)).T
    q = m * BLOCK_REDUCE
    g = xp.matmul(_blocks(c[:, :q], m), _blocks(d[:, :q], m).transpose(0, 2, 1)).sum(axis=0)
    if q < c.shape[1]:
        g += xp.dot(c[:, q:], d[:, q:].T)
    return g.T
