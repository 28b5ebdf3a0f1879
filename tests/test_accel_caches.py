"""Inference's choice between Winograd and the pairs: by their costs, and by the L2 size
(accel.caches) their working sets are weighed against."""

from __future__ import annotations

import numpy as np
import pytest
from rounding import assert_close

from glassnet.accel import caches, conv_pairs, winograd
from glassnet.accel import conv as fast_conv
from glassnet.ops import conv as ref_conv
from glassnet.ops.conv import conv_geometry


@pytest.mark.parametrize(("text", "want"), [
    ("1024K\n", 1 << 20), ("2M", 2 << 20), ("512", 512), ("48k", 48 << 10),
    ("", None), ("K", None), ("0K", None), ("big", None), ("-1K", None),
])
def test_parse_size(text, want):
    assert caches.parse_size(text) == want


def _cache_dir(root, index, level, kind, size):
    d = root / f"index{index}"
    d.mkdir()
    (d / "level").write_text(f"{level}\n")
    (d / "type").write_text(f"{kind}\n")
    (d / "size").write_text(f"{size}\n")


def test_l2_bytes_reads_the_level_2_data_or_unified_cache(tmp_path):
    _cache_dir(tmp_path, 0, 1, "Data", "32K")
    _cache_dir(tmp_path, 1, 1, "Instruction", "32K")
    _cache_dir(tmp_path, 2, 2, "Unified", "1280K")
    _cache_dir(tmp_path, 3, 3, "Unified", "32768K")
    assert caches.l2_bytes.__wrapped__(tmp_path) == 1280 << 10


def test_l2_bytes_falls_back_when_nothing_can_be_read(tmp_path):
    assert caches.l2_bytes.__wrapped__(tmp_path / "missing") == caches.DEFAULT_L2_BYTES
    _cache_dir(tmp_path, 0, 2, "Unified", "garbage")
    assert caches.l2_bytes.__wrapped__(tmp_path) == caches.DEFAULT_L2_BYTES
    assert caches.l2_bytes() > 0  # this machine's, or the default


def test_working_sets_count_what_one_thread_touches(threads, monkeypatch):
    """By hand: 64 channels on 8×8 maps, batch 32, float32 (the parts split as the kernels do):
    F(2×2, 3×3) 16 values per (c, f) and per (channel, 2×2 tile), F(4×4, 3×3) 36 per 4×4 tile."""
    geometry = conv_geometry((8, 8), (3, 3), 1, "same", 1)
    parts = threads  # MIN_WORK_PER_CHUNK is 1 under the fixture: every thread gets a part
    assert winograd.large_tiles(32, 64, 64, geometry)  # 64 or 128 4×4 tiles per thread
    tiles = 4 * 32 // parts
    assert winograd.working_set(64, 64, 32, geometry, 4) == 4 * 36 * (64 * 64 + 128 * tiles)
    monkeypatch.setattr(winograd, "LARGE_TILES", False)
    tiles = 16 * 32 // parts
    assert winograd.working_set(64, 64, 32, geometry, 4) == 4 * 16 * (64 * 64 + 128 * tiles)
    want = 4 * (64 * 64 * 32 + (9 * 64 * 64 + 64 * 64 * 32) // parts)
    assert conv_pairs.working_set((64, 32, 8, 8), (3, 3, 64, 64), (8, 8), 4) == want


def _winograd_ran(x, w, geometry):
    calls = []
    real = winograd.conv2d_values

    def spy(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    winograd.conv2d_values = spy
    try:
        got = fast_conv.conv2d_values(x, w, None, geometry)
    finally:
        winograd.conv2d_values = real
    ref, _ = ref_conv.conv2d_forward(x, w, padding="same")
    assert_close(got, ref, np.float32)
    return bool(calls)


@pytest.mark.parametrize(("c", "n", "hw"), [(64, 32, 8), (128, 16, 4), (256, 8, 4)])
def test_the_pairs_run_where_only_they_fit_the_l2(threads, monkeypatch, c, n, hw):
    """An L2 that holds the pairs' working set but not Winograd's: the pairs, whatever the
    costs say; one that holds both, or neither: the costs decide."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((c, n, hw, hw)).astype(np.float32)
    w = (0.1 * rng.standard_normal((3, 3, c, c))).astype(np.float32)
    geometry = conv_geometry((hw, hw), (3, 3), 1, "same", 1)
    assert conv_pairs.applies(x, w, geometry, 1) and winograd.applies(x, w, geometry, 1)
    pairs = conv_pairs.working_set(x.shape, w.shape, (hw, hw), 4)
    wino = winograd.working_set(c, c, n, geometry, 4)
    assert pairs < wino
    by_cost = winograd.cost(c, c, geometry, n) < conv_pairs.cost(n, (hw, hw), (3, 3), geometry)
    for l2, want in [(pairs, False), (wino - 1, False), (pairs - 1, by_cost), (wino, by_cost)]:
        monkeypatch.setattr(caches, "l2_bytes", lambda l2=l2: l2)
        assert _winograd_ran(x, w, geometry) is want, l2


@pytest.mark.parametrize(("c", "n", "hw", "want_winograd"), [
    (32, 16, 2, False),  # 2×2: 16 products either way, and Winograd's transforms on top
    (128, 16, 4, True),  # 4×4, 128 channels: 64 · 1.5 against 100 · 1.125
    (32, 16, 4, False),  # 4×4, 32 channels: the transforms triple Winograd's 64 (192 > 112.5)
    (64, 128, 8, False),  # 8×8, 64 channels, batch 128: F(4×4) 144 · 3.5 against 484 · 1.016
    (64, 32, 8, True),  # ... batch 32: 504 against 484 · 1.0625
])
def test_inference_takes_winograd_or_the_pairs_by_their_costs(threads, monkeypatch, c, n, hw,
                                                              want_winograd):
    """Winograd runs where its products plus transforms cost less than the pairs' (and the
    result equals the reference either way). No L2 cache here: the costs alone decide."""
    monkeypatch.setattr(caches, "l2_bytes", lambda: 0)
    rng = np.random.default_rng(2)
    w = rng.standard_normal((3, 3, c, c)).astype(np.float32)
    geometry = conv_geometry((hw, hw), (3, 3), 1, "same", 1)
    x = rng.standard_normal((c, n, hw, hw)).astype(np.float32)
    assert conv_pairs.applies(x, w, geometry, 1) and winograd.applies(x, w, geometry, 1)
    assert _winograd_ran(x, w, geometry) is want_winograd
