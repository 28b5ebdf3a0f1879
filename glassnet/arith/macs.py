"""Multiply-accumulate counts of conv and dense layers and the shapes of conv-as-GEMM, explained.

Convention (../shared/DESIGN.md §2): MACs are the multiply-adds of conv and dense layers only, for
one sample, as torchvision and fvcore count them; FLOPs = 2·MACs. Bias additions, activations,
pooling and normalisation are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from glassnet.arith.explain import MacCount, check_positive, grouped_channels, mac_count, num


def conv2d_macs(
    out_h: int,
    out_w: int,
    kernel_h: int,
    kernel_w: int,
    c_in: int,
    filters: int,
    groups: int = 1,
) -> MacCount:
    """Return the multiply-adds of a 2-D convolution for one sample.

    MACs = OH·OW·K_h·K_w·(C_in/groups)·N: each of the OH·OW·N outputs is a dot product of
    length K_h·K_w·C_in/groups.

    Args:
        out_h: output height OH.
        out_w: output width OW.
        kernel_h: kernel height K_h.
        kernel_w: kernel width K_w.
        c_in: input channels C_in.
        filters: filters (output channels) N.
        groups: channel groups.

    Returns:
        A :class:`MacCount` (``.macs``, ``.flops``; ``explain()`` states the convention).

    Raises:
        GlassnetError: if a size is not a positive int or ``groups`` does not divide ``c_in``
            and ``filters``.
    """
    fn = "conv2d_macs"
    check_positive(
        fn,
        out_h=out_h,
        out_w=out_w,
        kernel_h=kernel_h,
        kernel_w=kernel_w,
        c_in=c_in,
        filters=filters,
        groups=groups,
    )
    symbol, channels = grouped_channels(fn, c_in, filters, groups)
    formula = f"OH·OW·K_h·K_w·{symbol}·N"
    return mac_count(
        out_h * out_w * kernel_h * kernel_w * (c_in // groups) * filters,
        formula,
        f"{num(out_h)}·{num(out_w)}·{kernel_h}·{kernel_w}·{channels}·{num(filters)}",
    )


def dense_macs(n_in: int, n_out: int) -> MacCount:
    """Return the multiply-adds of a dense layer for one sample: MACs = n_in·n_out.

    Args:
        n_in: input units.
        n_out: output units.

    Returns:
        A :class:`MacCount`.

    Raises:
        GlassnetError: if a size is not a positive int.
    """
    check_positive("dense_macs", n_in=n_in, n_out=n_out)
    return mac_count(n_in * n_out, "n_in·n_out", f"{num(n_in)}·{num(n_out)}")


@dataclass(frozen=True)
class GemmShapes:
    """The matrix product that computes a convolution (im2col): ``cols · weights = out``.

    Attributes:
        cols: ``(OH·OW·N, K_h·K_w·C_in)``, one row per output position (N = batch).
        weights: ``(K_h·K_w·C_in, F)``, one column per filter.
        out: ``(OH·OW·N, F)``.
        macs: ``OH·OW·N·K_h·K_w·C_in·F`` (the GEMM's multiply-adds).
    """

    cols: tuple[int, int]
    weights: tuple[int, int]
    out: tuple[int, int]
    macs: int
    lines: tuple[str, ...]

    def explain(self) -> list[str]:
        """Return one line per matrix, the product and its multiply-adds."""
        return list(self.lines)


def _dims(shape: tuple[int, int]) -> str:
    return f"[{num(shape[0])} × {num(shape[1])}]"


def conv2d_gemm_shapes(
    out_h: int,
    out_w: int,
    kernel_h: int,
    kernel_w: int,
    c_in: int,
    filters: int,
    batch: int = 1,
) -> GemmShapes:
    """Return the matrix shapes of a convolution computed as im2col + GEMM.

    cols [OH·OW·N × K_h·K_w·C_in] · weights [K_h·K_w·C_in × F] = out [OH·OW·N × F], where N is
    the batch and F the filters. (glassnet's kernels compute the transposed product
    W[F, C·K_h·K_w] @ cols[C·K_h·K_w, N·OH·OW]; the sizes and MACs are the same.)

    Args:
        out_h: output height OH.
        out_w: output width OW.
        kernel_h: kernel height K_h.
        kernel_w: kernel width K_w.
        c_in: input channels C_in.
        filters: filters F.
        batch: batch size N.

    Returns:
        A :class:`GemmShapes`.

    Raises:
        GlassnetError: if a size is not a positive int.
    """
    check_positive(
        "conv2d_gemm_shapes",
        out_h=out_h,
        out_w=out_w,
        kernel_h=kernel_h,
        kernel_w=kernel_w,
        c_in=c_in,
        filters=filters,
        batch=batch,
    )
    rows, depth = out_h * out_w * batch, kernel_h * kernel_w * c_in
    cols, weights, out = (rows, depth), (depth, filters), (rows, filters)
    macs = rows * depth * filters
    lines = (
        f"cols [OH·OW·N × K_h·K_w·C_in] = [{num(out_h)}·{num(out_w)}·{num(batch)} × "
        f"{kernel_h}·{kernel_w}·{num(c_in)}] = {_dims(cols)}",
        f"weights [K_h·K_w·C_in × F] = [{kernel_h}·{kernel_w}·{num(c_in)} × {num(filters)}] = "
        f"{_dims(weights)}",
        f"out = cols · weights: {_dims(cols)} · {_dims(weights)} = {_dims(out)}",
        f"GEMM multiply-adds = {num(rows)}·{num(depth)}·{num(filters)} = {num(macs)}",
    )
    return GemmShapes(cols=cols, weights=weights, out=out, macs=macs, lines=lines)
