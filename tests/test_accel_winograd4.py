"""Winograd F(4×4, 3×3) (glassnet.accel.winograd4_tiles, winograd.large_tiles): its matrices
against the algebra, its kernel transform against G g Gᵀ in float64, the whole convolution
against the reference on random geometries and epilogues, the one-call parts against the
closure, and the rule that picks it over F(2×2, 3×3)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rounding import assert_close

from glassnet.accel import kernels
from glassnet.accel.epilogue import Epilogue
from glassnet.ops import conv as ref_conv

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="the transforms need numba")
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_matrices_compute_the_correlation():
    """Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is the 4×4 'valid' correlation of a 6×6 patch d with a 3×3
    kernel g, in float64, to rounding (a wrong coefficient anywhere breaks it)."""
    from glassnet.accel.winograd4_tiles import AT, BT, G

    rng = np.random.default_rng(0)
    for _ in range(20):
        d, g = rng.standard_normal((6, 6)), rng.standard_normal((3, 3))
        got = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T
        want = np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(4)]
                         for i in range(4)])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_transform_is_g_times_kernel_times_g_transposed(threads, dtype):
    """winograd.kernel_transform(w, 4): U[6a + b, c, f] = (G g_{c,f} Gᵀ)[a, b], computed in
    float64 and rounded once: float32 within an ulp of the float64 product rounded; float64
    within the rounding of nine-term sums (other order of the same products)."""
    from glassnet.accel import winograd
    from glassnet.accel.winograd4_tiles import G

    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 3, 24, 37)).astype(dtype)  # 888 columns: two blocks of 512
    got = winograd.kernel_transform(w, 4)
    want = np.einsum("ai,ijcf,bj->abcf", G, w.astype(np.float64), G).reshape(36, 24, 37)
    assert got.dtype == dtype and got.shape == (36, 24, 37)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, want.astype(dtype), rtol=2 * eps,
                               atol=64 * np.finfo(np.float64).eps * np.abs(w).max())


@st.composite
def cases(draw):
    out = draw(st.sampled_from([4, 8, 12]))
    pad = draw(st.integers(0, 2))
    return dict(
        shape=(draw(st.integers(8, 20)), draw(st.integers(1, 6)), out + 2 - 2 * pad,
               draw(st.sampled_from([4, 8]) ) + 2 - 2 * pad),
        filters=draw(st.integers(8, 19)), pad=pad,
        epilogue=draw(st.sampled_from(["bias", "none", "bn", "bn-relu", "bn-relu6"])),
        dtype=draw(st.sampled_from([np.float64, np.float32])), seed=draw(st.integers(0, 2**31)),
    )


def _force_large(monkeypatch) -> list:
    """F(4×4) wherever its tile order allows (the cost rule and tile minimum off); returns a
    list that records each large_tiles answer."""
    from glassnet.accel import winograd

    monkeypatch.setattr(winograd, "LARGE_MIN_COLUMNS", 1)
    monkeypatch.setattr(winograd, "LARGE_TRANSFORM_MACS", 0)
    monkeypatch.setattr(winograd, "KERNEL_VALUES_PER_TILE", 1 << 30)
    seen: list = []
    rule = winograd.large_tiles
    monkeypatch.setattr(winograd, "large_tiles", lambda *a: seen.append(rule(*a)) or seen[-1])
    return seen


@given(case=cases())
@SETTINGS
def test_large_tiles_equal_reference(threads, monkeypatch, case):
    """3×3 stride-1 inference by F(4×4, 3×3) against the reference convolution (float64
    sums), with a bias or a folded BatchNorm (+ ReLU / ReLU6); output sizes 4, 8, 12 by
    padding 0–2, 1–6 images, 8–20 channels each way, any split of the images."""
    from glassnet.accel import winograd

    seen = _force_large(monkeypatch)
    rng = np.random.default_rng(case["seed"])
    dt, (c, n, h, wd), f = case["dtype"], case["shape"], case["filters"]
    x = rng.standard_normal((c, n, h, wd)).astype(dt)
    w = rng.standard_normal((3, 3, c, f)).astype(dt)
    geo = ref_conv.conv_geometry((h, wd), (3, 3), 1, case["pad"], 1)
    kind = case["epilogue"]
    b = rng.standard_normal(f).astype(dt) if kind == "bias" else None
    want = ref_conv.conv2d_forward(x.astype(np.float64), w.astype(np.float64),
                                   None if b is None else b.astype(np.float64),
                                   padding=case["pad"])[0]
    ep = Epilogue(None, b)
    if kind.startswith("bn"):
        scale, shift = rng.uniform(0.5, 2, f).astype(dt), rng.standard_normal(f).astype(dt)
        cap = 6.0 if kind == "bn-relu6" else np.inf
        ep = Epilogue(scale, shift, kind != "bn", cap)
        want = want * scale[:, None, None, None] + shift[:, None, None, None]
        if kind != "bn":
            want = np.clip(want, 0, cap)
    got = winograd.conv2d_values(x, w, geo, ep.scale, ep.shift, ep.clip, ep.cap)
    assert got.dtype == dt
    assert_close(got, want, dt)
    wide = geo.out_hw[1] // 4
    assert seen[-1] == all(hi - lo >= wide for lo, hi in winograd._large_parts(
        n, c, f, geo.out_hw)), "F(4×4) must run wherever its tile order allows"


@pytest.mark.parametrize("shape,pad", [((16, 6, 8, 8), 1), ((24, 3, 4, 4), 1),
                                       ((16, 4, 10, 6), 0)])
def test_large_one_call_parts_equal_the_closure_parts(threads, monkeypatch, shape, pad):
    """Each F(4×4) part as one nogil call (transforms and the 36 GEMMs through the BLAS by
    address) gives what the Python closure (np.matmul) gives, with a BN + ReLU6 epilogue."""
    from glassnet.accel import blas, winograd

    seen = _force_large(monkeypatch)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((3, 3, shape[0], 20)).astype(np.float32)
    geo = ref_conv.conv_geometry(shape[2:], (3, 3), 1, pad, 1)
    scale = rng.uniform(0.5, 2, 20).astype(np.float32)
    shift = rng.standard_normal(20).astype(np.float32)
    one_call = winograd.conv2d_values(x, w, geo, scale, shift, True, 6.0)
    with monkeypatch.context() as m:
        m.setattr(blas, "gemm_address", lambda dtype: 0)  # the closure path
        closure = winograd.conv2d_values(x, w, geo, scale, shift, True, 6.0)
    assert seen == [True, True]
    np.testing.assert_array_equal(one_call, closure)
    want = np.clip(ref_conv.conv2d_forward(x, w, None, padding=pad)[0]
                   * scale[:, None, None, None] + shift[:, None, None, None], 0, 6)
    assert_close(one_call, want, np.float32)


def test_large_tiles_rule_reads_only_shapes(monkeypatch):
    """winograd.large_tiles: output sizes multiples of 4; cheaper per output by the transform
    costs (from 64 channels each way, not 32); each thread's part at least LARGE_MIN_COLUMNS
    4×4 tiles with the images innermost."""
    from glassnet.accel import parallel, winograd

    monkeypatch.setattr(parallel, "num_threads", lambda: 2)

    def case(c, n, hw, f=None):
        return winograd.large_tiles(n, c, f or c, ref_conv.conv_geometry((hw, hw), (3, 3), 1, 1, 1))

    assert case(64, 128, 8)  # 64 images × 4 tiles per thread
    assert case(128, 128, 4)  # 64 images × 1 tile
    assert case(64, 32, 8)  # 16 × 4 = 64 tiles: just enough
    assert not case(128, 32, 4)  # 16 tiles per thread
    assert not case(32, 128, 8)  # 32 channels: the transforms cost more than they save
    assert case(48, 128, 8, f=96)  # s = 1/32: 36 · 3.5 = 126 < 64 · 2 = 128
    assert not case(48, 128, 8)  # s = 1/24: 36 · 4.33 = 156 > 64 · 2.33 = 149
    assert not case(64, 128, 6)  # 6×6 outputs: not whole 4×4 tiles
    assert not case(64, 4, 32)  # 2 images per thread, 8 tiles per row: rows innermost
