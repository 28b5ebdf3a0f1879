"""The fast drop-in for batch normalisation of CNHW maps (:mod:`glassnet.ops.norm`, axis 0).

In the compute layout each channel's values are one contiguous block, so a channel is a row of
an (C, N·H·W) view. The reference makes about seven whole-array NumPy passes forward and six
backward (each with a temporary); here:

* forward: per channel one pass for the mean, one for the variance (two-pass, as the
  reference, so no cancellation; sums in float64), one writing x̂ and the output;
* backward: one pass for Σ dout and Σ dout·x̂, one writing dL/dx;

channels split over the threads, each thread doing its channels' statistics AND their
normalisation (or sums and dL/dx) in one parallel region: a channel needs only its own sums, so
no thread waits for the other between the two (two regions per direction before, each ending
in a join). The formulas are the reference's; the sums run in another
order (float64 accumulators), so results agree to rounding. Needs numba and a C-contiguous
4-D float input (:func:`usable`); the dispatcher runs the reference otherwise.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from glassnet.accel import kernels, parallel
from glassnet.ops import norm as ref

Array = Any
NORM_COST = 0.15  # per element, against a convolution's (glassnet.accel.parallel)

if kernels.AVAILABLE:  # pragma: no branch
    from numba import njit

    # reassoc lets LLVM split each sum into vector lanes (the order differs from a loop's; the
    # float64 accumulators keep it accurate).
    @njit(cache=True, nogil=True, fastmath={"reassoc"})
    def _stats(x2, c0, c1, mean, var):  # type: ignore[no-untyped-def]
        """mean[c], var[c] (biased) of rows c0 … c1 − 1, in float64.

        Shapes:
            x2: (C, M); mean, var: (C,) float64
        """
        m = x2.shape[1]
        for c in range(c0, c1):
            row = x2[c]
            s = 0.0
            for i in range(m):
                s += row[i]
            mu = s / m
            q = 0.0
            for i in range(m):
                d = row[i] - mu
                q += d * d
            mean[c] = mu
            var[c] = q / m

    @njit(cache=True, nogil=True)
    def _normalise(x2, mean, inv_std, gamma, beta, c0, c1, xhat2, out2):  # type: ignore[no-untyped-def]
        """x̂ = (x − mean)·inv_std and out = x̂·gamma + beta for rows c0 … c1 − 1.

        Shapes:
            x2, xhat2, out2: (C, M); mean, inv_std, gamma, beta: (C,) in x's dtype
        """
        m = x2.shape[1]
        for c in range(c0, c1):
            mu, s, g, b = mean[c], inv_std[c], gamma[c], beta[c]
            row, xr, orow = x2[c], xhat2[c], out2[c]
            for i in range(m):
                xh = (row[i] - mu) * s
                xr[i] = xh
                orow[i] = xh * g + b

    @njit(cache=True, nogil=True)
    def _normalise_clip(x2, mean, inv_std, gamma, beta, cap, c0, c1, xhat2, out2):  # type: ignore[no-untyped-def]
        """:func:`_normalise`, the output then clipped to [0, cap] as accel.activation does.

        Shapes:
            x2, xhat2, out2: (C, M); mean, inv_std, gamma, beta: (C,) in x's dtype
        """
        m = x2.shape[1]
        zero = out2.dtype.type(0)
        for c in range(c0, c1):
            mu, s, g, b = mean[c], inv_std[c], gamma[c], beta[c]
            row, xr, orow = x2[c], xhat2[c], out2[c]
            for i in range(m):
                xh = (row[i] - mu) * s
                xr[i] = xh
                y = xh * g + b
                t = zero if y <= zero else y  # not max(): a NaN must stay NaN
                orow[i] = cap if t >= cap else t

    @njit(cache=True, nogil=True, fastmath={"reassoc"})
    def _row_sums(drow, xr):  # type: ignore[no-untyped-def]
        """(Σ drow, Σ drow·xr) in float64.

        ONE loop shared by both backward passes, so the fused BatchNorm + ReLU sums in the same
        vectorised order (bit for bit) as the plain one.

        Shapes:
            drow, xr: (M,)
        """
        s = 0.0
        q = 0.0
        for i in range(drow.size):
            s += drow[i]
            q += drow[i] * xr[i]
        return s, q

    @njit(cache=True, nogil=True)
    def _row_dx(drow, xr, kc, m_f, db, dg, out):  # type: ignore[no-untyped-def]
        """Write kc·(M·drow − db − xr·dg) to ``out``, M = ``m_f`` (0: running stats, kc·drow).

        Shapes:
            drow, xr, out: (M,)
        """
        if m_f == 0:
            for i in range(drow.size):
                out[i] = kc * drow[i]
        else:
            for i in range(drow.size):
                out[i] = kc * (m_f * drow[i] - db - xr[i] * dg)

    @njit(cache=True, nogil=True)
    def _grad_sums(d2, xhat2, c0, c1, dbeta, dgamma):  # type: ignore[no-untyped-def]
        """dbeta[c] = Σ dout, dgamma[c] = Σ dout·x̂ over rows c0 … c1 − 1, in float64.

        Shapes:
            d2, xhat2: (C, M); dbeta, dgamma: (C,) float64
        """
        for c in range(c0, c1):
            dbeta[c], dgamma[c] = _row_sums(d2[c], xhat2[c])

    @njit(cache=True, nogil=True)
    def _grad_x(d2, xhat2, k, m_f, dbeta, dgamma, c0, c1, dx2):  # type: ignore[no-untyped-def]
        """Write dx = k·(M·dout − dbeta − x̂·dgamma) per row, M = ``m_f`` (batch statistics).

        With ``m_f`` = 0 (running statistics) dx = k·dout.

        Shapes:
            d2, xhat2, dx2: (C, M); k, dbeta, dgamma: (C,) in dout's dtype
        """
        for c in range(c0, c1):
            _row_dx(d2[c], xhat2[c], k[c], m_f, dbeta[c], dgamma[c], dx2[c])

    @njit(cache=True, nogil=True)
    def _masked_row(drow, xr, g, b, cap, out):  # type: ignore[no-untyped-def]
        """Write drow where 0 < xr·g + b < cap (any y > 0 when cap is inf), else 0, to ``out``.

        y = x̂·gamma + beta recomputed: the forward's product and sum, so the forward's mask bit
        for bit (no mask array stored or read); the clip's and accel.activation's rule.

        Shapes:
            drow, xr, out: (M,)
        """
        zero = out.dtype.type(0)
        uncapped = np.isinf(cap)
        for i in range(drow.size):
            y = xr[i] * g + b
            out[i] = drow[i] if (y > zero) & ((y < cap) | uncapped) else zero

    # error_model="numpy": 1 / sqrt(0) is inf, as NumPy's (eps 0, a constant channel), not an
    # exception.
    @njit(cache=True, nogil=True, error_model="numpy")
    def _forward_part(x2, training, eps, mean64, var64, mean, var, inv_std, gamma, beta, c0, c1,  # type: ignore[no-untyped-def]
                      clip, cap, xhat2, out2):
        """Rows c0 … c1 − 1 of the forward pass: (training) their statistics, then x̂ and out.

        ``clip``: out clipped to [0, cap] (a ReLU after the BatchNorm; cap inf: plain ReLU).

        In training mean64/var64 get the float64 statistics, mean/var/inv_std their values in
        x's dtype, as NumPy computes them (``astype``, then ``1 / sqrt(var + eps)`` in that
        dtype); otherwise inv_std and mean are given.

        Shapes:
            x2, xhat2, out2: (C, M); mean64, var64: (C,) float64; the rest (C,) in x's dtype
        """
        if training:
            _stats(x2, c0, c1, mean64, var64)
            one = inv_std.dtype.type(1)
            for c in range(c0, c1):
                mean[c] = mean64[c]
                var[c] = var64[c]
                inv_std[c] = one / np.sqrt(var[c] + eps)
        if clip:
            _normalise_clip(x2, mean, inv_std, gamma, beta, cap, c0, c1, xhat2, out2)
        else:
            _normalise(x2, mean, inv_std, gamma, beta, c0, c1, xhat2, out2)

    @njit(cache=True, nogil=True)
    def _backward_part(d2, xhat2, k, m_f, db64, dg64, dbeta, dgamma, c0, c1, clip, gamma, beta,  # type: ignore[no-untyped-def]
                       cap, dx2):
        """Rows c0 … c1 − 1 of the backward pass: their sums, then dL/dx.

        ``clip``: the forward clipped its output (:func:`_forward_part`); ``dout`` is then the
        gradient of the clipped output and passes where 0 < x̂·gamma + beta < cap.

        Shapes:
            d2, xhat2, dx2: (C, M); db64, dg64: (C,) float64; k, dbeta, dgamma, gamma, beta:
            (C,) in dout's dtype
        """
        if not clip:
            _grad_sums(d2, xhat2, c0, c1, db64, dg64)
            for c in range(c0, c1):
                dbeta[c] = db64[c]
                dgamma[c] = dg64[c]
            _grad_x(d2, xhat2, k, m_f, dbeta, dgamma, c0, c1, dx2)
            return
        # Channel by channel: the gradient through the clip into a row buffer (in cache), then
        # the plain passes' own row loops over it.
        buf = np.empty(d2.shape[1], dtype=d2.dtype)
        for c in range(c0, c1):
            xr = xhat2[c]
            _masked_row(d2[c], xr, gamma[c], beta[c], cap, buf)
            db64[c], dg64[c] = _row_sums(buf, xr)
            dbeta[c] = db64[c]
            dgamma[c] = dg64[c]
            _row_dx(buf, xr, k[c], m_f, dbeta[c], dgamma[c], dx2[c])


class FastBatchNormCache(NamedTuple):
    """What :func:`batch_norm_backward` needs (as the reference's cache)."""

    xhat: Array  # (C, N, H, W) normalised input
    inv_std: Array  # (C,) in x's dtype
    gamma: Array  # (C,)
    training: bool
    # A ReLU fused after it (batch_norm_relu_forward): its cap (inf: plain ReLU) and the
    # gamma / beta the forward used, in x's dtype; None: no ReLU.
    cap: Any = None
    g: Any = None
    b: Any = None


def usable(x: Array, axis: int) -> bool:
    """Whether the kernels take this call: CNHW maps (axis 0), numba on, NumPy float data."""
    return (kernels.enabled(x) and x.ndim == 4 and axis in (0, -4) and x.dtype.kind == "f"
            and x.shape[0] > 0 and x.size > 0)


def _rows(a: Array) -> Array:
    return np.ascontiguousarray(a).reshape(a.shape[0], -1)


def _run(fn: Any, channels: int, size: int) -> None:
    parallel.run(fn, parallel.chunks(channels, size, NORM_COST))


def batch_norm_forward(
    x: Array, gamma: Array, beta: Array, running_mean: Array | None, running_var: Array | None,
    *, axis: int, training: bool, momentum: float = 0.1, eps: float = 1e-5,
    relu_cap: float | None = None,
) -> tuple[Array, FastBatchNormCache]:
    """:func:`glassnet.ops.norm.batch_norm_forward` for CNHW maps (the same contract).

    With ``relu_cap`` (inf: ReLU, 6: ReLU6) the output is also clipped to [0, cap] in the same
    pass, as :func:`glassnet.accel.activation.clipped_relu_forward` would (bit for bit), and
    :func:`batch_norm_backward` takes the gradient of the clipped output.

    Raises:
        ShapeError, GlassnetError: as the reference (one value per channel in training, a
            per-channel array of another size, missing running statistics at inference).

    Shapes:
        x: (C, N, H, W); gamma, beta, running_mean, running_var: (C,) -> out: x's.
    """
    c, dt = x.shape[0], x.dtype
    ref.check_per_channel(c, 0, gamma=gamma, beta=beta, running_mean=running_mean,
                          running_var=running_var)
    x2 = _rows(x)
    m = x2.shape[1]
    mean64, var64 = np.empty(c), np.empty(c)
    if training:
        ref.check_batch_values(x, m, 0)
        mean, var, inv_std = np.empty(c, dt), np.empty(c, dt), np.empty(c, dt)
    else:
        mean, var = ref.running_stats(running_mean, running_var, dt)
        mean = np.ascontiguousarray(mean, dtype=dt)
        inv_std = 1 / np.sqrt(var + dt.type(eps))
    g, b = np.ascontiguousarray(gamma, dtype=dt), np.ascontiguousarray(beta, dtype=dt)
    xhat, out = np.empty_like(x2), np.empty_like(x2)
    e = dt.type(eps)
    clip = relu_cap is not None
    cap = dt.type(np.inf if relu_cap is None else relu_cap)
    _run(lambda lo, hi: _forward_part(x2, training, e, mean64, var64, mean, var, inv_std, g, b,
                                      lo, hi, clip, cap, xhat, out), c, x.size)
    if training:
        ref.update_running(running_mean, running_var, mean, var, m, momentum)
    return out.reshape(x.shape), FastBatchNormCache(
        xhat.reshape(x.shape), inv_std, gamma, bool(training),
        *((cap, g, b) if clip else ()))


def batch_norm_backward(dout: Array, cache: FastBatchNormCache) -> tuple[Array, Array, Array]:
    """:func:`glassnet.ops.norm.batch_norm_backward` for CNHW maps: ``(dx, dgamma, dbeta)``.

    Shapes:
        dout: (C, N, H, W) -> dx: same, dgamma: (C,), dbeta: (C,).
    """
    d2, xhat2 = _rows(dout), _rows(cache.xhat)
    c, m = d2.shape
    dt = dout.dtype
    db64, dg64 = np.empty(c), np.empty(c)
    dbeta, dgamma = np.empty(c, dt), np.empty(c, dt)
    scale = (cache.gamma * cache.inv_std).astype(dt)
    k = scale / m if cache.training else scale
    m_f = dt.type(m if cache.training else 0)
    dx = np.empty_like(d2)
    clip = cache.cap is not None
    cap = dt.type(np.inf) if cache.cap is None else cache.cap
    g, b = (cache.g, cache.b) if clip else (k, k)  # unused without the clip
    _run(lambda lo, hi: _backward_part(d2, xhat2, k, m_f, db64, dg64, dbeta, dgamma, lo, hi,
                                       clip, g, b, cap, dx), c, dout.size)
    return dx.reshape(dout.shape), dgamma, dbeta
