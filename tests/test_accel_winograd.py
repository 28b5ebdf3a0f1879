"""Winograd F(2×2, 3×3) (glassnet.accel.winograd) against the reference convolution: random
geometries and epilogues, both tile orders, every split of the work, the one-call parts against
the closure, and the rule that picks it (split from test_accel_differential.py)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rounding import assert_close

from glassnet.accel import conv as fast_conv
from glassnet.accel import kernels
from glassnet.accel.crop import live_geometry
from glassnet.accel.epilogue import Epilogue
from glassnet.errors import GlassnetError
from glassnet.ops import conv as ref_conv

DTYPES = st.sampled_from([np.float64, np.float32])
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def winograd_cases(draw):
    return dict(
        shape=(draw(st.integers(16, 20)), draw(st.integers(1, 3)), draw(st.integers(1, 9)),
               draw(st.integers(1, 9))),
        filters=draw(st.integers(16, 19)),
        padding=draw(st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 2),
                               st.tuples(*[st.integers(0, 2)] * 4))),
        epilogue=draw(st.sampled_from(["bias", "none", "bn", "bn-relu", "bn-relu6"])),
        dtype=draw(DTYPES), seed=draw(st.integers(0, 2**31)),
    )


@pytest.mark.skipif(not kernels.AVAILABLE, reason="Winograd's transforms need numba")
@pytest.mark.parametrize("order", ["rows", "images"])
@given(case=winograd_cases())
@SETTINGS
def test_winograd_equals_reference(threads, monkeypatch, order, case):
    """3×3 stride-1 inference by Winograd F(2×2, 3×3) (accel.winograd) against the reference
    convolution, with a bias or a folded BatchNorm (+ ReLU / ReLU6) epilogue; every map size
    from 1×1 (a crop, not Winograd) up, odd sizes (a half-used last tile: the module itself,
    which the rule does not pick for them) included. (Any tile count: the rule's tile minimum
    is lowered so small maps exercise the path.) Both tile orders of the transforms: tiles of a
    row innermost, images innermost (accel.winograd.images_inner picks one per part)."""
    from glassnet.accel import winograd

    monkeypatch.setattr(winograd, "KERNEL_VALUES_PER_TILE", 1 << 30)
    monkeypatch.setattr(winograd, "images_inner", lambda images, row: order == "images")
    rng = np.random.default_rng(case["seed"])
    dt = case["dtype"]
    c, f = case["shape"][0], case["filters"]
    x = rng.standard_normal(case["shape"]).astype(dt)
    w = rng.standard_normal((3, 3, c, f)).astype(dt)
    try:
        geo = ref_conv.conv_geometry(case["shape"][2:], (3, 3), 1, case["padding"], 1)
    except GlassnetError:
        return
    kind = case["epilogue"]
    b = rng.standard_normal(f).astype(dt) if kind == "bias" else None
    want = ref_conv.conv2d_forward(x, w, b, padding=case["padding"])[0]
    epilogue = None
    if kind.startswith("bn"):
        scale, shift = rng.uniform(0.5, 2, f).astype(dt), rng.standard_normal(f).astype(dt)
        cap = {"bn": np.inf, "bn-relu": np.inf, "bn-relu6": 6.0}[kind]
        epilogue = Epilogue(scale, shift, kind != "bn", cap)
        want = want * scale[:, None, None, None] + shift[:, None, None, None]
        if kind != "bn":
            want = np.clip(want, 0, cap)
    crop = live_geometry(case["shape"][2:], (3, 3), geo)
    got = fast_conv.conv2d_values(x, w, b, geo, 1, epilogue)  # whichever path the rule picks
    assert got.dtype == dt
    assert_close(got, want, dt)
    if crop is None:  # the module itself on every uncropped geometry, odd sizes included
        ep = epilogue or Epilogue(None, b)
        direct = winograd.conv2d_values(x, w, geo, ep.scale, ep.shift, ep.clip, ep.cap)
        assert_close(direct, want, dt)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="Winograd's transforms need numba")
@pytest.mark.parametrize("shape,pad", [((16, 5, 8, 8), 1), ((24, 3, 4, 6), 1), ((16, 2, 7, 5), 0),
                                       ((16, 1, 12, 10), 1), ((16, 1, 9, 7), 0)])
def test_winograd_one_call_parts_equal_the_closure_parts(threads, monkeypatch, shape, pad):
    """Each part as one nogil call (transforms and the 16 GEMMs through the BLAS by address)
    gives what the Python closure (np.matmul) gives, both tile orders, with an epilogue; any
    split (the work threshold lowered): one image is split by rows of tiles."""
    from glassnet.accel import blas, parallel, winograd

    monkeypatch.setattr(parallel, "MIN_WORK_PER_CHUNK", 1)

    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((3, 3, shape[0], 20)).astype(np.float32)
    geo = ref_conv.conv_geometry(shape[2:], (3, 3), 1, pad, 1)
    scale, shift = rng.uniform(0.5, 2, 20).astype(np.float32), rng.standard_normal(20)
    shift = shift.astype(np.float32)
    for order in (False, True):
        monkeypatch.setattr(winograd, "images_inner", lambda images, row, o=order: o)
        one_call = winograd.conv2d_values(x, w, geo, scale, shift, True, 6.0)
        with monkeypatch.context() as m:
            m.setattr(blas, "gemm_address", lambda dtype: 0)  # the closure path
            closure = winograd.conv2d_values(x, w, geo, scale, shift, True, 6.0)
        assert_close(one_call, closure, np.float32)
        want = np.clip(ref_conv.conv2d_forward(x, w, None, padding=pad)[0]
                       * scale[:, None, None, None] + shift[:, None, None, None], 0, 6)
        assert_close(one_call, want, np.float32)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="Winograd's transforms need numba")
def test_winograd_rule_reads_only_shapes():
    """accel.winograd.applies: 3×3 stride-1 ungrouped, >= 8 channels each way, even output
    sizes, and tiles · 8192 >= C·F (the kernel transform repaid)."""
    from glassnet.accel import winograd

    def case(c, f, n, hw, strides=1, dt=np.float32):
        x, w = np.zeros((c, n, hw, hw), dt), np.zeros((3, 3, c, f), dt)
        geo = ref_conv.conv_geometry((hw, hw), (3, 3), strides, 1, 1)
        return winograd.applies(x, w, geo, 1)

    assert case(16, 16, 1, 2)  # one tile repays a 16×16 kernel
    assert case(512, 512, 8, 4)  # 8 images × 4 tiles = 32 = 512·512 / 8192
    assert not case(512, 512, 7, 4)  # 28 tiles: the kernel transform would not pay
    assert not case(7, 64, 64, 8)  # too few input channels
    assert not case(64, 64, 64, 8, strides=2)
    assert not case(32, 64, 32, 13)  # 13×13 outputs: a half-used last tile row and column
