"""Pooling ops vs a naive-loop oracle, PyTorch float64 and numeric gradients."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import t64
from hypothesis import given, settings
from hypothesis import strategies as st
from numgrad import numeric_grad, rel_error
from oracles import naive_pool2d

from glassnet.errors import GlassnetError, ShapeError
from glassnet.ops.avg_pool import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool2d_backward,
    global_avg_pool2d_forward,
)
from glassnet.ops.pool import max_pool2d_backward, max_pool2d_forward

F64_TOL = 1e-10


# Naive-loop oracle (independent of glassnet; forward and backward).
def _tf_same(size: int, k: int, s: int) -> tuple[int, int]:
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _starts(size: int, k: int, s: int, before: int, after: int, ceil_mode: bool) -> list[int]:
    """Window starts in input coordinates, enumerated one by one (no closed-form size)."""
    padded, starts, o = size + before + after, [], 0
    while True:
        p = o * s  # start in padded coordinates
        ok = (p < padded - k + s and p < size + before) if ceil_mode else p + k <= padded
        if not ok:
            return starts
        starts.append(p - before)
        o += 1


def naive_pool(x: np.ndarray, dout: np.ndarray, k: tuple[int, int], s: tuple[int, int],
               pads: tuple[int, int, int, int], ceil_mode: bool, mode: str,
               count_include_pad: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Loop over every output cell; return (out, dx)."""
    t, b, lft, r = pads
    h, w = x.shape[-2:]
    rows = _starts(h, k[0], s[0], t, b, ceil_mode)
    cols = _starts(w, k[1], s[1], lft, r, ceil_mode)
    flat = x.reshape(-1, h, w)
    out = np.zeros((flat.shape[0], len(rows), len(cols)))
    dx = np.zeros(flat.shape)
    g = dout.reshape(out.shape)
    for c in range(flat.shape[0]):
        for i, r0 in enumerate(rows):
            for j, c0 in enumerate(cols):
                cells = [(u, v) for u in range(r0, r0 + k[0]) for v in range(c0, c0 + k[1])
                         if 0 <= u < h and 0 <= v < w]  # row-major window order
                if mode == "max":
                    best = max(cells, key=lambda cell: flat[c][cell])  # max() keeps the first
                    out[c, i, j] = flat[c][best]
                    dx[c][best] += g[c, i, j]
                    continue
                if count_include_pad:
                    div = (min(r0 + k[0], h + b) - r0) * (min(c0 + k[1], w + r) - c0)
                else:
                    div = len(cells)
                out[c, i, j] = sum(flat[c][cell] for cell in cells) / div
                for cell in cells:
                    dx[c][cell] += g[c, i, j] / div
    return out.reshape(x.shape[:-2] + out.shape[-2:]), dx.reshape(x.shape)


@st.composite
def geometries(draw: Any) -> dict[str, Any]:
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kind = draw(st.sampled_from(["valid", "same", "int", "pair", "four"]))
    if kind in ("valid", "same"):
        padding: Any = kind
    elif kind == "int":
        padding = draw(st.integers(0, min(kh, kw) // 2))
    elif kind == "pair":
        padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    else:
        padding = tuple(draw(st.integers(0, kk - 1)) for kk in (kh, kh, kw, kw))
    lead = draw(st.sampled_from([(), (2,), (2, 3)]))
    return dict(shape=lead + (h, w), k=(kh, kw), s=(sh, sw), padding=padding,
                ceil_mode=draw(st.booleans()), incl=draw(st.booleans()),
                seed=draw(st.integers(0, 99)))


def _explicit(g: dict[str, Any]) -> tuple[int, int, int, int]:
    h, w = g["shape"][-2:]
    p = g["padding"]
    if p == "valid":
        return (0, 0, 0, 0)
    if p == "same":
        return _tf_same(h, g["k"][0], g["s"][0]) + _tf_same(w, g["k"][1], g["s"][1])
    if isinstance(p, int):
        return (p, p, p, p)
    return (p[0], p[0], p[1], p[1]) if len(p) == 2 else p


def _distinct(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Values at least 0.1 apart, so a 1e-6 numeric perturbation never changes a maximum."""
    rng, n = np.random.default_rng(seed), math.prod(shape)
    return (rng.permutation(n) * 0.1 + rng.uniform(0, 0.01, n) - n * 0.05).reshape(shape)


def _fits(g: dict[str, Any]) -> bool:
    """Whether there is a window: the kernel fits the padded input, or with ceil_mode overhangs
    it by less than the stride (PyTorch's rule)."""
    t, b, lft, r = _explicit(g)
    h, w = g["shape"][-2:]
    slack = (g["s"][0] - 1, g["s"][1] - 1) if g["ceil_mode"] else (0, 0)
    return h + t + b + slack[0] >= g["k"][0] and w + lft + r + slack[1] >= g["k"][1]


def _run(mode: str, x: np.ndarray, g: dict[str, Any]) -> tuple[Any, Any]:
    kwargs = dict(pool_size=g["k"], strides=g["s"], padding=g["padding"], ceil_mode=g["ceil_mode"])
    if mode == "max":
        out, cache = max_pool2d_forward(x, **kwargs)
        return out, lambda d: max_pool2d_backward(d, cache)
    out, cache = avg_pool2d_forward(x, count_include_pad=g["incl"], **kwargs)
    return out, lambda d: avg_pool2d_backward(d, cache)


def _torch_pool(torch: Any, mode: str, x: np.ndarray, dout: np.ndarray, g: dict[str, Any]
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """PyTorch's forward and dx, or None where torch cannot express the geometry."""
    fn = torch.nn.functional
    t, b, lft, r = _explicit(g)
    xt = t64(torch, x.reshape((-1,) + x.shape[-2:]))  # torch pools 3-D or 4-D inputs only
    k, s = g["k"], g["s"]
    if t == b and lft == r and 2 * t <= k[0] and 2 * lft <= k[1]:
        if mode == "max":
            out = fn.max_pool2d(xt, k, s, (t, lft), ceil_mode=g["ceil_mode"])
        else:
            out = fn.avg_pool2d(xt, k, s, (t, lft), ceil_mode=g["ceil_mode"],
                                count_include_pad=g["incl"])
    elif g["ceil_mode"]:
        return None  # torch's ceil rule on a pre-padded input differs: the naive oracle covers it
    elif mode == "max":
        out = fn.max_pool2d(fn.pad(xt, (lft, r, t, b), value=-math.inf), k, s)
    else:  # window sums over zero padding / the count of real (or all) positions per window
        sums = fn.avg_pool2d(fn.pad(xt, (lft, r, t, b)), k, s, divisor_override=1)
        real = fn.avg_pool2d(fn.pad(torch.ones_like(xt), (lft, r, t, b)), k, s, divisor_override=1)
        out = sums / (k[0] * k[1] if g["incl"] else real)
    out.backward(t64(torch, dout.reshape(out.shape), requires_grad=False))
    return out.detach().numpy().reshape(dout.shape), xt.grad.numpy().reshape(x.shape)


@pytest.mark.parametrize("mode", ["max", "avg"])
@settings(max_examples=40, deadline=None)
@given(g=geometries())
def test_pool_vs_naive_and_torch(torch: Any, mode: str, g: dict[str, Any]) -> None:
    x = _distinct(g["shape"], g["seed"])
    if not _fits(g):
        with pytest.raises(ShapeError, match="does not fit the padded input"):
            _run(mode, x, g)
        return
    out, backward = _run(mode, x, g)
    dout = np.random.default_rng(g["seed"]).standard_normal(out.shape)
    dx = backward(dout)
    ref_out, ref_dx = naive_pool(x, dout, g["k"], g["s"], _explicit(g), g["ceil_mode"], mode,
                                 g["incl"])
    assert out.shape == ref_out.shape and dx.shape == x.shape
    assert np.max(np.abs(out - ref_out)) <= F64_TOL
    assert np.max(np.abs(dx - ref_dx)) <= F64_TOL
    # The shared NHWC forward oracle (tests/oracles.py) agrees as well.
    h, w = x.shape[-2:]
    nhwc = x.reshape(-1, h, w).transpose(1, 2, 0)[None]
    t, b, lft, r = _explicit(g)
    shared = naive_pool2d(nhwc, pool=g["k"], strides=g["s"], padding=((t, b), (lft, r)), mode=mode,
                          ceil_mode=g["ceil_mode"], count_include_pad=g["incl"])
    shared = shared[0].transpose(2, 0, 1).reshape(out.shape)
    assert np.max(np.abs(out - shared), initial=0) <= F64_TOL
    ref = _torch_pool(torch, mode, x, dout, g)
    if ref is not None:
        assert out.shape == ref[0].shape
        assert np.max(np.abs(out - ref[0]), initial=0) <= F64_TOL
        assert np.max(np.abs(dx - ref[1]), initial=0) <= F64_TOL
        out32, backward32 = _run(mode, x.astype(np.float32), g)
        dx32 = backward32(dout.astype(np.float32))
        assert out32.dtype == dx32.dtype == np.float32
        assert rel_error(out32, ref[0]) <= 1e-4 and rel_error(dx32, ref[1]) <= 1e-4


@pytest.mark.parametrize("mode", ["max", "avg"])
@settings(max_examples=30, deadline=None)
@given(g=geometries())
def test_pool_numeric_gradient(mode: str, g: dict[str, Any]) -> None:
    if not _fits(g):
        return
    x = _distinct(g["shape"], g["seed"])
    out, backward = _run(mode, x, g)
    r = np.random.default_rng(1).standard_normal(out.shape)
    num = numeric_grad(lambda a: float(np.sum(_run(mode, a, g)[0] * r)), x)
    assert rel_error(backward(r), num) < 1e-6


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("k,s,p", [(3, 2, 1), (3, 1, 1), (2, 2, 0), (3, 3, 1), (5, 2, 2)])
def test_pool_torch_native_cnhw(torch: Any, k: int, s: int, p: int, ceil_mode: bool) -> None:
    """Overlapping, odd sizes and ceil_mode through torch's own padding (CNHW = 4-D input)."""
    x = np.random.default_rng(k * 10 + s).standard_normal((3, 2, 11, 8))
    for incl in (False, True):
        out, cache = avg_pool2d_forward(x, pool_size=k, strides=s, padding=p, ceil_mode=ceil_mode,
                                        count_include_pad=incl)
        xt = t64(torch, x)
        ref = torch.nn.functional.avg_pool2d(xt, k, s, p, ceil_mode=ceil_mode,
                                             count_include_pad=incl)
        ref.backward(torch.ones_like(ref))
        assert np.max(np.abs(out - ref.detach().numpy())) <= F64_TOL
        dx = avg_pool2d_backward(np.ones_like(out), cache)
        assert np.max(np.abs(dx - xt.grad.numpy())) <= F64_TOL
    out, cache = max_pool2d_forward(x, pool_size=k, strides=s, padding=p, ceil_mode=ceil_mode)
    xt = t64(torch, x)
    ref = torch.nn.functional.max_pool2d(xt, k, s, p, ceil_mode=ceil_mode)
    ref.backward(torch.ones_like(ref))
    assert np.max(np.abs(out - ref.detach().numpy())) <= F64_TOL
    assert np.max(np.abs(max_pool2d_backward(np.ones_like(out), cache) - xt.grad.numpy())) == 0


def test_ceil_mode_window_overhangs_a_small_input(torch: Any) -> None:
    # W = 3, K = 4, S = 2, no padding: floor mode has no window; ceil((3 − 4)/2) + 1 = 1 window,
    # clipped to the input (PyTorch 2.13: max 3, avg 2 with either count_include_pad).
    x = np.array([[[1.0, 2.0, 3.0]]])
    dout = np.array([[[10.0]]])
    xt = t64(torch, x)
    ref = torch.nn.functional.max_pool2d(xt, (1, 4), (1, 2), ceil_mode=True)
    ref.backward(t64(torch, dout, requires_grad=False))
    out, cache = max_pool2d_forward(x, pool_size=(1, 4), strides=(1, 2), ceil_mode=True)
    np.testing.assert_array_equal(out, [[[3.0]]])
    np.testing.assert_array_equal(out, ref.detach().numpy())
    dx = max_pool2d_backward(dout, cache)
    np.testing.assert_array_equal(dx, [[[0.0, 0.0, 10.0]]])
    np.testing.assert_array_equal(dx, xt.grad.numpy())
    for incl in (False, True):
        xt = t64(torch, x)
        ref = torch.nn.functional.avg_pool2d(xt, (1, 4), (1, 2), ceil_mode=True,
                                             count_include_pad=incl)
        ref.backward(t64(torch, dout, requires_grad=False))
        out, cache = avg_pool2d_forward(x, pool_size=(1, 4), strides=(1, 2), ceil_mode=True,
                                        count_include_pad=incl)
        np.testing.assert_allclose(out, [[[2.0]]], rtol=0, atol=1e-15)
        np.testing.assert_allclose(out, ref.detach().numpy(), rtol=0, atol=F64_TOL)
        dx = avg_pool2d_backward(dout, cache)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=F64_TOL)
    # With padding 1 the count_include_pad divisor clips at I + P = 4: the window [-1, 3) of a
    # 2-wide input, then the window [1, 5) counts positions 1..3 (3 of them), as torch does.
    x = np.array([[[1.0, 2.0]]])
    for incl in (False, True):
        out, _ = avg_pool2d_forward(x, pool_size=(1, 4), strides=(1, 2), padding=(0, 1),
                                    ceil_mode=True, count_include_pad=incl)
        ref = torch.nn.functional.avg_pool2d(t64(torch, x), (1, 4), (1, 2), (0, 1),
                                             ceil_mode=True, count_include_pad=incl)
        assert out.shape == tuple(ref.shape)
        np.testing.assert_allclose(out, ref.detach().numpy(), rtol=0, atol=F64_TOL)
    # An overhang of S or more leaves no window, in torch as here.
    with pytest.raises(RuntimeError, match="Output size is too small"):
        torch.nn.functional.max_pool2d(t64(torch, np.zeros((1, 1, 3))), (1, 5), (1, 2),
                                       ceil_mode=True)


def test_max_pool_tie_goes_to_first_maximum(torch: Any) -> None:
    # Every window of a constant map is a tie: the whole gradient goes to its top-left cell.
    x = np.ones((1, 4, 4))
    out, cache = max_pool2d_forward(x, pool_size=2)
    dx = max_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0], np.tile([[1, 0], [0, 0]], (2, 2)))
    # Overlapping windows (2x2, stride 1) on a 3x3 tie: each window routes to its own top-left.
    x = np.full((1, 1, 3, 3), 5.0)
    out, cache = max_pool2d_forward(x, pool_size=2, strides=1)
    dx = max_pool2d_backward(np.arange(1.0, 5.0).reshape(1, 1, 2, 2), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 0], [3, 4, 0], [0, 0, 0]])
    xt = t64(torch, x)
    torch.nn.functional.max_pool2d(xt, 2, 1).backward(
        torch.arange(1.0, 5.0, dtype=torch.float64).reshape(1, 1, 2, 2))
    np.testing.assert_array_equal(dx, xt.grad.numpy())


def test_avg_pool_same_excludes_padding_known_values() -> None:
    # 4x4 arange, 3x3 window, stride 2, 'same' -> padding 0 top/left, 1 bottom/right (TF rule).
    x = np.arange(16.0).reshape(1, 4, 4)
    out, cache = avg_pool2d_forward(x, pool_size=3, strides=2, padding="same")
    np.testing.assert_allclose(out[0], [[5.0, 6.5], [11.0, 12.5]], rtol=0, atol=1e-12)
    np.testing.assert_allclose(1 / cache.inv_divisor, [[9, 6], [6, 4]])
    assert not cache.inv_divisor.flags.writeable
    out, _ = avg_pool2d_forward(x, pool_size=3, strides=2, padding="same", count_include_pad=True)
    np.testing.assert_allclose(out[0], [[5.0, 6.5 * 6 / 9], [11.0 * 6 / 9, 12.5 * 4 / 9]])


def test_max_pool_default_strides_and_dtype() -> None:
    x = np.arange(36, dtype=np.float32).reshape(1, 6, 6)
    out, cache = max_pool2d_forward(x, pool_size=3)
    assert out.dtype == np.float32 and out.shape == (1, 2, 2)
    np.testing.assert_array_equal(out[0], [[14, 17], [32, 35]])
    assert max_pool2d_backward(np.ones_like(out), cache).dtype == np.float32


def test_global_avg_pool(torch: Any) -> None:
    x = np.random.default_rng(0).standard_normal((3, 2, 5, 7))
    out, cache = global_avg_pool2d_forward(x)
    ref = (xt := t64(torch, x)).mean(dim=(-2, -1))
    dout = np.random.default_rng(1).standard_normal(out.shape)
    ref.backward(t64(torch, dout, requires_grad=False))
    assert out.shape == (3, 2)
    assert np.max(np.abs(out - ref.detach().numpy())) <= F64_TOL
    dx = global_avg_pool2d_backward(dout, cache)
    assert np.max(np.abs(dx - xt.grad.numpy())) <= F64_TOL
    num = numeric_grad(lambda a: float(np.sum(global_avg_pool2d_forward(a)[0] * dout)), x)
    assert rel_error(dx, num) < 1e-6
    out32, c32 = global_avg_pool2d_forward(x.astype(np.float32))
    assert out32.dtype == global_avg_pool2d_backward(out32, c32).dtype == np.float32


@pytest.mark.parametrize("fn", [max_pool2d_forward, avg_pool2d_forward])
def test_pool_errors(fn: Any) -> None:
    x = np.zeros((2, 3, 3))
    name = "max_pool2d" if fn is max_pool2d_forward else "avg_pool2d"
    with pytest.raises(ShapeError, match=rf"{name}: kernel 4 does not fit the padded input H 3"):
        fn(x, pool_size=4)
    with pytest.raises(ShapeError, match=rf"{name}: kernel 5 does not fit the padded input H 3 "
                       r"\(input 3, padding 0\+0\); expected kernel span <= 4 \(ceil_mode, "):
        fn(x, pool_size=5, strides=2, ceil_mode=True)
    with pytest.raises(GlassnetError, match=rf"{name}: padding 2\+2 on H must be smaller than"):
        fn(x, pool_size=2, padding=2)
    with pytest.raises(GlassnetError, match=rf"{name}: pool_size=0 must be a positive int"):
        fn(x, pool_size=0)
    with pytest.raises(GlassnetError, match=rf"{name}: strides=\(1, 2, 3\) must be"):
        fn(x, pool_size=2, strides=(1, 2, 3))
    with pytest.raises(GlassnetError, match=rf"{name}: padding='full' is not one of"):
        fn(x, pool_size=2, padding="full")
    with pytest.raises(ShapeError, match=rf"{name}: x must be a floating array .* shape \[3\]"):
        fn(np.zeros(3), pool_size=1)
    with pytest.raises(ShapeError, match=rf"{name}: x must be a floating .* dtype int64"):
        fn(np.zeros((3, 3), dtype=np.int64), pool_size=1)
    with pytest.raises(ShapeError, match="global_avg_pool2d: x must have shape"):
        global_avg_pool2d_forward(np.zeros(3))
