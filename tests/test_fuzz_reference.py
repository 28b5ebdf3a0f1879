"""A fixed, fast fuzz of the reference ops against PyTorch float64: >= 10,000 seeded geometries.

Not hypothesis: every block draws a fixed number of geometries from ``numpy.random.default_rng``
so CI always checks the same count, quickly. Each case is a plain dict holding every
hyper-parameter and the seed of its arrays; a failure message shows it, and
``_check_conv(torch, case)`` / ``_check_pool(torch, case)`` / ``_check_dense(torch, case)``
replay it alone.

Every block also meets geometries that cannot be computed (an output smaller than 1, a pooling
pad ≥ the window): glassnet must raise a ``GlassnetError`` exactly where PyTorch raises (or, for
pools PyTorch cannot express, exactly where PyTorch's own size rule says there is no window).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import t64
from oracles import explicit_padding, naive_pool2d

from glassnet.errors import GlassnetError, ShapeError
from glassnet.ops.avg_pool import avg_pool2d_backward, avg_pool2d_forward
from glassnet.ops.basic import dense_backward, dense_forward
from glassnet.ops.conv import conv2d_backward, conv2d_forward
from glassnet.ops.pool import max_pool2d_backward, max_pool2d_forward

RTOL = ATOL = 1e-10
BLOCK = 1000  # computable geometries checked per test function
Case = dict[str, Any]


def _close(got: Any, want: Any, what: str, case: Case) -> None:
    """Assert same shape and values within 1e-10; the message holds the whole case."""
    assert got is not None and got.shape == want.shape, (
        f"{what}: shape {None if got is None else got.shape} != torch {want.shape}; case={case!r}"
    )
    err = np.max(np.abs(got - want) - RTOL * np.abs(want), initial=0.0)
    assert err <= ATOL, f"{what}: max error {err:.3g} beyond 1e-10; case={case!r}"


def _padding(rng: np.random.Generator, most: tuple[int, int]) -> Any:
    """A random padding spec of every kind; explicit amounts in [0, most] per axis."""
    kind = int(rng.integers(5))
    if kind < 2:
        return ("valid", "same")[kind]
    ph, pw = (int(rng.integers(m + 1)) for m in most)
    if kind == 2:
        return int(rng.integers(min(most) + 1))
    if kind == 3:
        return (ph, pw)
    return (ph, int(rng.integers(most[0] + 1)), pw, int(rng.integers(most[1] + 1)))


def _raised(fn: Any) -> BaseException | None:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - which one is raised is asserted by the caller
        return e
    return None


# --------------------------------------------------------------------------- conv2d


def _conv_case(rng: np.random.Generator) -> Case:
    groups = int(rng.choice([1, 1, 1, 2, 3]))
    kernel = tuple(int(v) for v in rng.integers(1, 6, 2))
    return dict(
        n=int(rng.integers(1, 4)), h=int(rng.integers(1, 13)), w=int(rng.integers(1, 13)),
        c=groups * int(rng.integers(1, 6 // groups + 1)),
        f=groups * int(rng.integers(1, 6 // groups + 1)), groups=groups, kernel=kernel,
        strides=tuple(int(v) for v in rng.integers(1, 4, 2)),
        dilation=tuple(int(v) for v in rng.integers(1, 4, 2)),
        padding=_padding(rng, (4, 4)), bias=bool(rng.integers(2)),
        seed=int(rng.integers(2**31)),
    )


def _check_conv(torch: Any, case: Case) -> bool:
    """Compare one conv case with torch; return whether it was computable (else both raised)."""
    fn = torch.nn.functional
    vals = np.random.default_rng(case["seed"])
    kh, kw = case["kernel"]
    x = vals.standard_normal((case["c"], case["n"], case["h"], case["w"]))  # (C, N, H, W)
    w = vals.standard_normal((kh, kw, case["c"] // case["groups"], case["f"]))
    b = vals.standard_normal(case["f"]) if case["bias"] else None
    (top, bottom), (left, right) = explicit_padding(
        case["padding"], (case["h"], case["w"]), case["kernel"], case["strides"], case["dilation"]
    )
    xt = t64(torch, x.transpose(1, 0, 2, 3))  # NCHW
    wt = t64(torch, w.transpose(3, 2, 0, 1))  # [F, C/g, KH, KW]
    bt = None if b is None else t64(torch, b)
    kwargs = dict(strides=case["strides"], padding=case["padding"], dilation=case["dilation"],
                  groups=case["groups"])
    try:
        ref = fn.conv2d(fn.pad(xt, (left, right, top, bottom)), wt, bt, stride=case["strides"],
                        dilation=case["dilation"], groups=case["groups"])
    except RuntimeError:
        err = _raised(lambda: conv2d_forward(x, w, b, **kwargs))
        assert isinstance(err, ShapeError), f"torch raised, glassnet gave {err!r}; case={case!r}"
        return False
    out, cache = conv2d_forward(x, w, b, **kwargs)
    dout = vals.standard_normal(out.shape)
    ref.backward(t64(torch, dout.transpose(1, 0, 2, 3), requires_grad=False))
    _close(out, ref.detach().numpy().transpose(1, 0, 2, 3), "conv2d out", case)
    dx, dw, db = conv2d_backward(dout, cache)
    _close(dx, xt.grad.numpy().transpose(1, 0, 2, 3), "conv2d dx", case)
    _close(dw, wt.grad.numpy().transpose(2, 3, 1, 0), "conv2d dw", case)
    if b is None:
        assert db is None, f"conv2d: db without a bias; case={case!r}"
    else:
        _close(db, bt.grad.numpy(), "conv2d db", case)
    return True


@pytest.mark.parametrize("seed", range(4))
def test_conv2d_fuzz(torch: Any, seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    checked = raised = 0
    while checked < BLOCK:
        if _check_conv(torch, _conv_case(rng)):
            checked += 1
        else:
            raised += 1
    assert checked >= BLOCK and raised > 0


# --------------------------------------------------------------------------- pooling


def _aten_pool_size(size: int, k: int, s: int, pad_l: int, pad_r: int, ceil: bool) -> int:
    """aten's ``pooling_output_shape_pad_lr`` (dilation 1), written out; < 1 means an error."""
    out = (size + pad_l + pad_r - (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1  # floor division
    if ceil and (out - 1) * s >= size + pad_l:  # the last window must start inside the image
        out -= 1
    return out


def _pool_case(rng: np.random.Generator, mode: str) -> Case:
    kernel = tuple(int(v) for v in rng.integers(1, 6, 2))
    lead = tuple(int(v) for v in rng.integers(1, 4, int(rng.integers(3))))
    strides = None if rng.random() < 0.1 else tuple(int(v) for v in rng.integers(1, 4, 2))
    case = dict(
        mode=mode, shape=(*lead, int(rng.integers(1, 13)), int(rng.integers(1, 13))),
        kernel=kernel, strides=strides, ceil_mode=bool(rng.integers(2)),
        # mostly pads glassnet accepts (< K); now and then one it refuses (= K)
        padding=_padding(rng, kernel if rng.random() < 0.05 else (kernel[0] - 1, kernel[1] - 1)),
        seed=int(rng.integers(2**31)),
    )
    if mode == "avg":
        case["count_include_pad"] = bool(rng.integers(2))
    return case


def _glassnet_pool(x: np.ndarray, case: Case) -> tuple[np.ndarray, Any]:
    kwargs = dict(pool_size=case["kernel"], strides=case["strides"], padding=case["padding"],
                  ceil_mode=case["ceil_mode"])
    if case["mode"] == "max":
        out, cache = max_pool2d_forward(x, **kwargs)
        return out, lambda d: max_pool2d_backward(d, cache)
    out, cache = avg_pool2d_forward(x, count_include_pad=case["count_include_pad"], **kwargs)
    return out, lambda d: avg_pool2d_backward(d, cache)


def _torch_pool(torch: Any, xt: Any, case: Case, pads: Any, out_hw: tuple[int, int]) -> Any:
    """torch's output on (M, 1, H, W): its own padding where it can, else explicit padding."""
    fn = torch.nn.functional
    (top, bottom), (left, right) = pads
    k, s, ceil = case["kernel"], case["strides"] or case["kernel"], case["ceil_mode"]
    if top == bottom and left == right and 2 * top <= k[0] and 2 * left <= k[1]:
        if case["mode"] == "max":
            return fn.max_pool2d(xt, k, s, (top, left), ceil_mode=ceil)
        return fn.avg_pool2d(xt, k, s, (top, left), ceil_mode=ceil,
                             count_include_pad=case["count_include_pad"])
    # Windows over an explicitly padded input, extended (never counted) so that all OH·OW of
    # them fit, the first OH·OW taken. Max pads with -inf; avg divides window sums of zero-padded
    # x by window sums of a map of the positions that count.
    (oh, ow), (h, w) = out_hw, xt.shape[-2:]
    ext_b = max(bottom, (oh - 1) * s[0] + k[0] - h - top)
    ext_r = max(right, (ow - 1) * s[1] + k[1] - w - left)
    if case["mode"] == "max":
        xp = fn.pad(xt, (left, ext_r, top, ext_b), value=-math.inf)
        return fn.max_pool2d(xp, k, s)[..., :oh, :ow]
    sums = fn.avg_pool2d(fn.pad(xt, (left, ext_r, top, ext_b)), k, s, divisor_override=1)
    if case["count_include_pad"]:  # [-top, H + bottom) counts
        counted = fn.pad(torch.ones(1, 1, h + top + bottom, w + left + right),
                         (0, ext_r - right, 0, ext_b - bottom))
    else:
        counted = fn.pad(torch.ones(1, 1, h, w), (left, ext_r, top, ext_b))
    divisor = fn.avg_pool2d(counted, k, s, divisor_override=1)
    return sums[..., :oh, :ow] / divisor[..., :oh, :ow]


def _check_pool(torch: Any, case: Case) -> bool:
    """Compare one pooling case with torch; return whether it was computable."""
    vals = np.random.default_rng(case["seed"])
    x = vals.standard_normal(case["shape"])
    (h, w), k = case["shape"][-2:], case["kernel"]
    s = case["strides"] or k
    pads = explicit_padding(case["padding"], (h, w), k, s)
    out_hw = (_aten_pool_size(h, k[0], s[0], *pads[0], case["ceil_mode"]),
              _aten_pool_size(w, k[1], s[1], *pads[1], case["ceil_mode"]))
    xt = t64(torch, x.reshape((-1, 1, h, w)))
    native = pads[0][0] == pads[0][1] and pads[1][0] == pads[1][1]
    native = native and 2 * pads[0][0] <= k[0] and 2 * pads[1][0] <= k[1]
    torch_err = _raised(lambda: _torch_pool(torch, xt, case, pads, out_hw)) if native else None
    too_wide = any(p >= kk for side, kk in zip(pads, k, strict=True) for p in side)
    if too_wide or min(out_hw) < 1:
        err = _raised(lambda: _glassnet_pool(x, case))
        want = GlassnetError if too_wide else ShapeError
        assert isinstance(err, want), f"expected {want.__name__}, got {err!r}; case={case!r}"
        assert torch_err is not None or not native, f"torch computed it; case={case!r}"
        return False
    assert torch_err is None, f"torch raised {torch_err!r}, glassnet would not; case={case!r}"
    out, backward = _glassnet_pool(x, case)
    dout = vals.standard_normal(out.shape)
    ref = _torch_pool(torch, xt, case, pads, out_hw)
    ref.backward(t64(torch, dout.reshape(ref.shape), requires_grad=False))
    lead = case["shape"][:-2]
    _close(out, ref.detach().numpy().reshape(lead + ref.shape[-2:]), f"{case['mode']} out", case)
    _close(backward(dout), xt.grad.numpy().reshape(x.shape), f"{case['mode']} dx", case)
    if case["padding"] == "same":  # the independent loops of tests/oracles.py (NHWC, forward)
        nhwc = x.reshape(-1, h, w).transpose(1, 2, 0)[None]
        loops = naive_pool2d(nhwc, pool=k, strides=s, padding=pads, mode=case["mode"],
                             ceil_mode=case["ceil_mode"],
                             count_include_pad=case.get("count_include_pad", False))
        _close(out, loops[0].transpose(2, 0, 1).reshape(out.shape), "naive loops", case)
    return True


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool2d_fuzz(torch: Any, mode: str, seed: int) -> None:
    rng = np.random.default_rng((2000 if mode == "max" else 3000) + seed)
    checked = raised = overhanging = 0
    while checked < BLOCK:
        case = _pool_case(rng, mode)
        if not _check_pool(torch, case):
            raised += 1
            continue
        checked += 1
        (h, w), k, s = case["shape"][-2:], case["kernel"], case["strides"] or case["kernel"]
        pads = explicit_padding(case["padding"], (h, w), k, s)
        # a ceil_mode window running past the padded input (Task: PyTorch's ceil rule)
        overhanging += any(
            (_aten_pool_size(size, kk, ss, *p, True) - 1) * ss + kk > size + sum(p)
            for size, kk, ss, p in zip((h, w), k, s, pads, strict=True)
        ) and case["ceil_mode"]
    assert checked >= BLOCK and raised > 0 and overhanging > 0


# --------------------------------------------------------------------------- dense


def _check_dense(torch: Any, case: Case) -> None:
    vals = np.random.default_rng(case["seed"])
    x = vals.standard_normal((case["n"], case["d_in"]))
    w = vals.standard_normal((case["d_in"], case["d_out"]))
    b = vals.standard_normal(case["d_out"]) if case["bias"] else None
    out, cache = dense_forward(x, w, b)
    dout = vals.standard_normal(out.shape)
    xt, wt = t64(torch, x), t64(torch, w)
    bt = None if b is None else t64(torch, b)
    ref = torch.nn.functional.linear(xt, wt.T, bt)
    ref.backward(t64(torch, dout, requires_grad=False))
    dx, dw, db = dense_backward(dout, cache)
    _close(out, ref.detach().numpy(), "dense out", case)
    _close(dx, xt.grad.numpy(), "dense dx", case)
    _close(dw, wt.grad.numpy(), "dense dw", case)
    assert (db is None) == (b is None), f"dense: db {db!r}; case={case!r}"
    if bt is not None:
        _close(db, bt.grad.numpy(), "dense db", case)


def test_dense_fuzz(torch: Any) -> None:
    rng = np.random.default_rng(4000)
    checked = 0
    for _ in range(BLOCK):
        n, d_in, d_out = (int(v) for v in rng.integers(1, 9, 3))
        _check_dense(torch, dict(n=n, d_in=d_in, d_out=d_out, bias=bool(rng.integers(2)),
                                 seed=int(rng.integers(2**31))))
        checked += 1
    assert checked >= BLOCK
