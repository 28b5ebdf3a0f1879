"""Winograd F(2×2, 3×3): a 3×3 stride-1 convolution with 2.25× fewer multiplies than im2col.

Each 2×2 block of output positions (a *tile*) reads a 4×4 patch d of the padded input. With
the fixed matrices of the minimal filtering algorithm (Lavin & Gray, 2016)::

    Bᵀ = [1  0 −1  0]     G = [1    0    0 ]     Aᵀ = [1  1  1  0]
         [0  1  1  0]         [1/2  1/2  1/2]          [0  1 −1 −1]
         [0 −1  1  0]         [1/2 −1/2  1/2]
         [0  1  0 −1]         [0    0    1 ]

the tile's output is Aᵀ [ Σ_c (G g_{c,f} Gᵀ) ⊙ (Bᵀ d_c B) ] A, so after transforming the kernel
(U = G g Gᵀ, 16 values per (c, f)) and every input patch (V = Bᵀ d B, 16 values per (c, tile))
the channel sums are 16 independent GEMMs, one per position ξ of the 4×4 transform::

    M[ξ] (F × tiles) = U[ξ]ᵀ (F × C) · V[ξ] (C × tiles)

— 16·C·F multiply-adds per tile instead of im2col's 36·C·F (4 outputs × 9 taps). The input and
output transforms are additions only (numba, :mod:`glassnet.accel.winograd_tiles`), their
vectors running over the tiles of a row or, on small maps, over the images of a thread's part
(:func:`images_inner`); the bias, or a folded
BatchNorm and ReLU (:class:`glassnet.accel.epilogue.Epilogue`), are applied by the output
transform. The batch is split over the threads as in :mod:`glassnet.accel.conv`, each thread's
part one nogil call (transforms and GEMMs, :func:`_chunk`) where NumPy's BLAS can be called by
address.

**F(4×4, 3×3)** (:mod:`glassnet.accel.winograd4_tiles`): 4×4 output tiles from 6×6 patches,
36 GEMMs, 2.25 multiply-adds per output against F(2×2)'s 4, but each transformed value costs
2.5× as much. It replaces F(2×2) where :func:`large_tiles` says so: whole 4×4 tiles, 64 or more
channels each way, and at least :data:`LARGE_MIN_COLUMNS` tiles per thread (batch 32 and up on
ResNet's and VGG's maps). Measured on whole inference passes (same process, interleaved):
vgg11 0.83–0.92 of the time, googlenet 0.92, resnet18 and resnet34 at batch 128 0.91–0.98.

Results equal the direct convolution's to rounding (other sums; the transforms add a few
float32 roundings: ``tests/test_accel_winograd.py``; F(4×4)'s are about 5× F(2×2)'s, 1–3·10⁻⁶
of the output's magnitude, ``tests/test_accel_winograd4.py``). Inference only: no cache for a
backward pass. Which convolutions take it: :func:`glassnet.accel.conv._winograd_pays`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.accel import blas, kernels, parallel, spin
from glassnet.accel import winograd4_tiles as tiles4
from glassnet.accel import winograd_tiles as tiles
from glassnet.arith.geometry import Pair

Array = Any
Pads = tuple[Pair, Pair]

# When Winograd pays, from its costs against im2col + GEMM (per call), measured with
# scripts/bench_winograd.py (docs/performance.md, rules table):
# * per 2×2 output tile it saves (36 − 16)·C·F multiply-adds and its data transforms touch
#   fewer values than im2col writes (16·C per tile against 36·C): it won from 8 channels up
#   (0.52–0.65× at 8 channels, every map size and batch measured);
# * the kernel transform writes 16·C·F values per call, whatever the batch: the tiles must
#   repay it. Break-even came at about C·F / 8192 tiles (512×512 kernels: 1.16× slower at 16
#   tiles, 0.75× at 32; 256×256: 1.0× at 1 tile, 0.63× at 16; 64×64 faster from 1 tile);
# * an odd output size leaves a last row / column of tiles that computes two values to keep
#   one, and lost: 32→64 channels, batch 32, 11×11 outputs 1.73×, 13×13 1.14× slower, while
#   even sizes won (12×12 0.88×, 24×24 0.85×, 8×8 0.82×): only even output sizes.
MIN_CHANNELS = 8
KERNEL_VALUES_PER_TILE = 8192
# The kernel transform (25 values per (c, f): 9 read, 16 written) split over two threads, measured
# per call (one thread → two): 64×64 kernels 15 → 17 µs, 128×128 50 → 33, 256×256 191 → 102,
# 512×512 1373 → 931. A cost of 1 per value (parallel.chunks) splits from 128×128 on.
TRANSFORM_COST = 1.0
# What a transformed value costs in multiply-adds of the GEMMs (:func:`cost`), from the
# transforms' own timings against their GEMMs' (docs/performance.md, rules table: per 16
# images, one thread, input + output transforms 374 µs for 64 channels on 8×8 maps, 158 for
# 128 on 4×4, 114 for 256 on 2×2, each against 16.8 M multiply-adds ≈ 370 µs of GEMM: 27–39).
TRANSFORM_MACS = 32
LARGE_TILES = True  # F(4×4, 3×3) where it pays (:func:`large_tiles`)
# What a transformed value of F(4×4, 3×3) costs in GEMM multiply-adds: its 6×6 transforms
# took 2.5× as long per value as the 4×4 ones (64 channels on 8×8 maps, 64 images, one thread:
# 1.27 against 0.51 ns), so 2.5 · TRANSFORM_MACS.
LARGE_TRANSFORM_MACS = 80
# The fewest 4×4 tiles per thread (its GEMMs' columns) where F(4×4, 3×3) beat F(2×2, 3×3):
# ``scripts/bench_winograd.py --tiles``, 64–512 channels, ratio F4 / F2: 4–16 tiles
# 1.00–1.55 (7 of 8 slower), 64 tiles 0.79–1.15, 256 tiles 0.70–1.00 (docs/performance.md).
LARGE_MIN_COLUMNS = 64


if kernels.AVAILABLE and blas.AVAILABLE and spin.AVAILABLE:  # pragma: no branch
    from numba import njit

    @njit(cache=True, nogil=True, inline="always")
    def _products(u, v, m, gemm_at):  # type: ignore[no-untyped-def]
        """M[ξ] = U[ξ]ᵀ · V[ξ] for every position ξ of the transform, through the BLAS by address.

        Shapes:
            u: (Ξ, C, F); v: (Ξ, C, T); m: (Ξ, F, T)
        """
        c, f, t, isz = v.shape[1], m.shape[1], v.shape[2], v.itemsize
        zero = v.dtype.type(0)
        for xi in range(v.shape[0]):
            blas.gemm(gemm_at, blas.TRANS, blas.NO_TRANS, f, t, c,
                      u.ctypes.data + xi * c * f * isz, f, v.ctypes.data + xi * c * t * isz, t,
                      zero, m.ctypes.data + xi * f * t * isz, t)

    @njit(cache=True, nogil=True)
    def _chunk(  # type: ignore[no-untyped-def]
        x, pt, pl, n0, n1, ty0, ty1, th, tw, u, v, m, scale, shift, scaled, shifted, clip,
        cap, out, by_image, gemm_at, sync, started, done, post, seen,
    ):
        """One thread's tiles in ONE nogil call: transforms, 16 GEMMs, output.

        The tiles of images n0 … n1 − 1, tile rows ty0 … ty1 − 1 (all TH of them in the
        images-innermost order).

        As :func:`glassnet.accel.conv_chunks.forward_chunk`: written as a Python closure the
        part crossed into Python between its steps, and each crossing could make a thread
        wait for the GIL (and sleep: tens of µs to wake). The GEMMs call NumPy's own BLAS by
        address (:mod:`glassnet.accel.blas`): M[ξ] (F × T) = U[ξ]ᵀ · V[ξ].

        Shapes:
            x: (C, N, H, W); u: (16, C, F); v: (16, C, T); m: (16, F, T);
            out: (F, N, OH, OW), T = (n1 − n0)·TH·TW
        """
        spin.signal(sync, started)
        if by_image:
            tiles.input_by_image(x, pt, pl, n0, n1, th, tw, v)
        else:
            tiles.input_rows(x, pt, pl, n0, n1, ty0, ty1, tw, v)
        _products(u, v, m, gemm_at)
        if by_image:
            tiles.output_by_image(m, n0, n1, th, tw, scale, shift, scaled, shifted, clip,
                                   cap, out)
        else:
            tiles.output_rows(m, n0, n1, ty0, ty1, tw, scale, shift, scaled, shifted, clip, cap,
                          out)
        spin.finish(sync, done, post, seen)

    @njit(cache=True, nogil=True)
    def _chunk4(  # type: ignore[no-untyped-def]
        x, pt, pl, n0, n1, th, tw, u, v, m, scale, shift, scaled, shifted, clip, cap, out,
        gemm_at, sync, started, done, post, seen,
    ):
        """:func:`_chunk` for F(4×4, 3×3) (images innermost): 36 GEMMs.

        Shapes:
            x: (C, N, H, W); u: (36, C, F); v: (36, C, T); m: (36, F, T);
            out: (F, N, OH, OW), T = (n1 − n0)·TH·TW
        """
        spin.signal(sync, started)
        tiles4.input_by_image(x, pt, pl, n0, n1, th, tw, v)
        _products(u, v, m, gemm_at)
        tiles4.output_by_image(m, n0, n1, th, tw, scale, shift, scaled, shifted, clip, cap, out)
        spin.finish(sync, done, post, seen)


def images_inner(images: int, tiles_per_row: int) -> bool:
    """Whether a part's transforms run with the images innermost (vectors over images).

    Either order's vectors run over one dimension: the tiles of a row (TW, the row kernels) or
    the images of the thread's part (NB, which also pays a transposing copy of each plane). The
    longer one wins: images when NB ≥ TW. Measured (``scripts/bench_winograd.py --orders``,
    64 and 128 channels, time images / rows): NB = 2·TW 0.45–0.77, NB = TW 0.73 (8×8 maps),
    0.90–1.10 (16×16), 1.08 (32×32); NB = TW/2 0.78–1.33; NB = TW/4 1.09–1.82.
    """
    return images >= tiles_per_row


def kernel_transform(w: Array, size: int = 2) -> Array:
    """U = G g Gᵀ for every (c, f), as the GEMMs' left operands (``size``: the output tile).

    Shapes:
        w: (3, 3, C, F) -> ((size + 2)², C, F)
    """
    c, f = w.shape[2:]
    values = (size + 2) ** 2
    u = np.empty((values, c * f), dtype=w.dtype)
    g = np.ascontiguousarray(w).reshape(9, c * f)
    kernel = tiles.kernel_tiles if size == 2 else tiles4.kernel_tiles
    # Split over the threads by columns: it runs before the batch parts, which all need U.
    parallel.run(lambda lo, hi: kernel(g, u, lo, hi),
                 parallel.chunks(c * f, (values + 9) * c * f, TRANSFORM_COST))
    return u.reshape(values, c, f)


def products(geometry: Any) -> int:
    """The C×F products F(2×2, 3×3) makes per image: 16 per 2×2 output tile."""
    (oh, ow) = geometry.out_hw
    return 16 * ((oh + 1) // 2) * ((ow + 1) // 2)


def cost(c: int, f: int, geometry: Any, n: int) -> float:
    """Time per image in C×F products: the GEMMs' plus the transforms', as products.

    A tile's input and output transforms write 16·(C + F) values, each costing about
    :data:`TRANSFORM_MACS` of the GEMMs' multiply-adds, so the transforms add
    TRANSFORM_MACS·(1/C + 1/F) per product: as much as the GEMMs at C = F = 64. Where a batch
    of ``n`` takes F(4×4, 3×3) (:func:`large_tiles`): 36 products per 4×4 tile, each
    transformed value :data:`LARGE_TRANSFORM_MACS`.
    """
    s = 1 / c + 1 / f
    if large_tiles(n, c, f, geometry):
        (oh, ow) = geometry.out_hw
        return 36 * (oh // 4) * (ow // 4) * (1 + LARGE_TRANSFORM_MACS * s)
    return products(geometry) * (1 + TRANSFORM_MACS * s)


def working_set(c: int, f: int, n: int, geometry: Any, itemsize: int) -> int:
    """Bytes one thread's part of :func:`conv2d_values` touches: U, and its tiles' V and M.

    Every part reads all of U (16·C·F: the parts split the images, not the filters) and writes
    V (16·C·T) and M (16·F·T) for its T tiles, with the images split as :func:`conv2d_values`
    splits them; with F(4×4, 3×3) (:func:`large_tiles`) 36 values each, T its 4×4 tiles.
    """
    (oh, ow) = geometry.out_hw
    if large_tiles(n, c, f, geometry):
        lo, hi = _large_parts(n, c, f, (oh, ow))[0]
        return itemsize * 36 * (c * f + (c + f) * (oh // 4) * (ow // 4) * (hi - lo))
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    work = (16 * (c + f) * th * tw + f * oh * ow) * n
    parts = max(len(parallel.chunks(n, work)), 1)
    tiles = th * tw * -(-n // parts)
    return itemsize * 16 * (c * f + (c + f) * tiles)


def applies(x: Array, w: Array, geometry: Any, groups: int) -> bool:
    """Whether Winograd F(2×2, 3×3) computes this convolution.

    3×3, stride 1, no dilation, ungrouped, NumPy float data with numba, at least
    :data:`MIN_CHANNELS` input and output channels, an even output height and width (no
    half-used tiles), and enough 2×2 output tiles to repay the kernel transform: tiles ·
    :data:`KERNEL_VALUES_PER_TILE` ≥ C·F.
    """
    (oh, ow) = geometry.out_hw
    count = x.shape[1] * ((oh + 1) // 2) * ((ow + 1) // 2)
    c, f = w.shape[2], w.shape[3]
    return (
        groups == 1 and tuple(w.shape[:2]) == (3, 3) and geometry.strides == (1, 1)
        and geometry.dilation == (1, 1) and kernels.enabled(x, w) and x.dtype == w.dtype
        and x.dtype.kind == "f" and min(c, f) >= MIN_CHANNELS
        and oh % 2 == 0 and ow % 2 == 0 and count * KERNEL_VALUES_PER_TILE >= c * f
    )


def conv2d_values(
    x: Array, w: Array, geometry: Any, scale: Array | None, shift: Array | None,
    clip: bool = False, cap: float = float("inf"),
) -> Array:
    """The convolution's output (then ``·scale + shift`` and the clip), by F(2×2, 3×3).

    Args:
        x: input maps, compute layout.
        w: 3×3 kernel.
        geometry: the resolved geometry (stride 1, dilation 1).
        scale: per filter, or None.
        shift: per filter, or None (a bias is a shift).
        clip: clip the result to [0, cap].
        cap: the clip's upper bound (inf: ReLU).

    Shapes:
        x: (C, N, H, W); w: (3, 3, C, F) -> out: (F, N, OH, OW)
    """
    (oh, ow), ((pt, _), (pl, _)) = geometry.out_hw, geometry.pads
    c, n = x.shape[:2]
    f = w.shape[3]
    xc = np.ascontiguousarray(x)
    out = np.empty((f, n, oh, ow), dtype=x.dtype)
    dt = x.dtype
    none = np.zeros(0, dt)
    sc = none if scale is None else np.ascontiguousarray(scale, dtype=dt)
    sh = none if shift is None else np.ascontiguousarray(shift, dtype=dt)
    flags = (scale is not None, shift is not None, clip, dt.type(cap))
    gemm_at = blas.gemm_address(dt) if blas.AVAILABLE and spin.AVAILABLE else 0
    if large_tiles(n, c, f, geometry):
        return _large(xc, w, pt, pl, sc, sh, flags, out, gemm_at)
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    uc = kernel_transform(w)
    # Work: the values the transforms and the GEMMs touch. The threads split the images; with
    # too few images for that (batch 1) they split the rows of tiles of the row order.
    work = (16 * (c + f) * th * tw + f * oh * ow) * n
    parts = [(lo, hi, 0, th) for lo, hi in parallel.chunks(n, work)]
    if len(parts) == 1 and not images_inner(n, tw):
        parts = [(0, n, r0, r1) for r0, r1 in parallel.chunks(th, work)]
    if gemm_at:  # each part one nogil call (the closure below is the fallback)
        parallel.run_kernel(_chunk, [
            (xc, pt, pl, lo, hi, r0, r1, th, tw, uc,
             np.empty((16, c, (hi - lo) * (r1 - r0) * tw), dt),
             np.empty((16, f, (hi - lo) * (r1 - r0) * tw), dt), sc, sh, *flags, out,
             images_inner(hi - lo, tw), gemm_at)
            for lo, hi, r0, r1 in parts
        ])
        return out

    def part(index: int, _: int) -> None:
        lo, hi, r0, r1 = parts[index]
        count = (hi - lo) * (r1 - r0) * tw
        v = np.empty((16, c, count), dtype=dt)
        if images_inner(hi - lo, tw):
            tiles.input_by_image(xc, pt, pl, lo, hi, th, tw, v)
        else:
            tiles.input_rows(xc, pt, pl, lo, hi, r0, r1, tw, v)
        m = np.matmul(uc.transpose(0, 2, 1), v)  # the 16 GEMMs (F × C)·(C × tiles)
        if images_inner(hi - lo, tw):
            tiles.output_by_image(m, lo, hi, th, tw, sc, sh, *flags, out)
        else:
            tiles.output_rows(m, lo, hi, r0, r1, tw, sc, sh, *flags, out)

    parallel.run(part, [(k, k + 1) for k in range(len(parts))])
    return out


def _large_parts(n: int, c: int, f: int, out_hw: Pair) -> list[tuple[int, int]]:
    """The image ranges of the threads' parts for F(4×4, 3×3)."""
    (oh, ow) = out_hw
    return parallel.chunks(n, (36 * (c + f) * (oh // 4) * (ow // 4) + f * oh * ow) * n)


def large_tiles(n: int, c: int, f: int, geometry: Any) -> bool:
    """Whether F(4×4, 3×3) computes the convolution instead of F(2×2, 3×3).

    * Output sizes that are multiples of 4, and parts of at least as many images as there are
      4×4 tiles in a row (its transforms run with the images innermost only).
    * Cheaper per output: per 16 outputs F(4×4) makes 36 products and F(2×2) 64, but a
      transformed 6×6 value costs :data:`LARGE_TRANSFORM_MACS` against
      :data:`TRANSFORM_MACS` for a 4×4 one (both in GEMM multiply-adds), so
      36·(1 + LARGE_TRANSFORM_MACS·s) < 64·(1 + TRANSFORM_MACS·s), s = 1/C + 1/F: from 64
      channels each way.
    * Each thread's GEMMs at least :data:`LARGE_MIN_COLUMNS` tiles wide.
    """
    (oh, ow) = geometry.out_hw
    if not LARGE_TILES or oh % 4 or ow % 4:
        return False
    s = 1 / c + 1 / f
    if 36 * (1 + LARGE_TRANSFORM_MACS * s) >= 64 * (1 + TRANSFORM_MACS * s):
        return False
    tiles = (oh // 4) * (ow // 4)
    return all(images_inner(hi - lo, ow // 4) and (hi - lo) * tiles >= LARGE_MIN_COLUMNS
               for lo, hi in _large_parts(n, c, f, (oh, ow)))


def _large(xc: Array, w: Array, pt: int, pl: int, sc: Array, sh: Array, flags: tuple[Any, ...],
           out: Array, gemm_at: int) -> Array:
    """:func:`conv2d_values` by F(4×4, 3×3) (:mod:`glassnet.accel.winograd4_tiles`).

    Shapes:
        xc: (C, N, H, W); w: (3, 3, C, F); out: (F, N, OH, OW)
    """
    f, n, oh, ow = out.shape
    c, dt = xc.shape[0], xc.dtype
    th, tw = oh // 4, ow // 4
    parts = _large_parts(n, c, f, (oh, ow))
    uc = kernel_transform(w, 4)
    if gemm_at:
        parallel.run_kernel(_chunk4, [
            (xc, pt, pl, lo, hi, th, tw, uc, np.empty((36, c, (hi - lo) * th * tw), dt),
             np.empty((36, f, (hi - lo) * th * tw), dt), sc, sh, *flags, out, gemm_at)
            for lo, hi in parts
        ])
        return out
    def part(lo: int, hi: int) -> None:
        v = np.empty((36, c, (hi - lo) * th * tw), dtype=dt)
        tiles4.input_by_image(xc, pt, pl, lo, hi, th, tw, v)
        m = np.matmul(uc.transpose(0, 2, 1), v)  # the 36 GEMMs (F × C)·(C × tiles)
        tiles4.output_by_image(m, lo, hi, th, tw, sc, sh, *flags, out)

    parallel.run(part, parts)
    return out
