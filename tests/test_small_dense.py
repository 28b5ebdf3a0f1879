"""The batch-1 dense kernels (accel.small_dense) against PyTorch float64: the GEMM split by
columns, the streamed weight rows split by blocks, and the rule that splits them."""

import numpy as np
import pytest

from glassnet.accel import blas, parallel, small_batch, small_dense

pytestmark = pytest.mark.skipif(
    not small_batch.AVAILABLE or not blas.gemm_address(np.float64),
    reason="numba or NumPy's BLAS (ILP64 cblas) not available",
)


@pytest.mark.parametrize("softmax", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_dense_equals_torch(torch, rng, softmax, bias):
    x, w = rng.standard_normal((2, 50)), rng.standard_normal((50, 7))
    b = rng.standard_normal(7) if bias else None
    out = small_dense.dense(x, w, b, softmax)
    want = torch.tensor(x) @ torch.tensor(w) + (0 if b is None else torch.tensor(b))
    if softmax:
        want = torch.softmax(want, dim=1)
    np.testing.assert_allclose(out, want.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("softmax", [False, True])
@pytest.mark.parametrize("rows,bias", [(1, True), (3, False), (5, True)])
def test_a_big_dense_layer_splits_its_columns(torch, rng, split, softmax, rows, bias):
    """600×700 weights (420k values, past the split rule): up to FEW_POSITIONS rows the weight
    rows streamed by one thread; 5 rows by the GEMM, each thread a block of columns."""
    x, w = rng.standard_normal((rows, 600)), rng.standard_normal((600, 700))
    b = rng.standard_normal(700) if bias else None
    if split > 1:
        assert len(parallel.chunks(700, w.size)) > 1
    out = small_dense.dense(x, w, b, softmax)
    want = torch.tensor(x) @ torch.tensor(w) + (torch.tensor(b) if bias else 0)
    if softmax:
        want = torch.softmax(want, dim=1)
    np.testing.assert_allclose(out, want.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("softmax", [False, True])
@pytest.mark.parametrize("rows,bias", [(1, True), (2, False), (4, True)])
def test_a_streamed_dense_layer_split_by_weight_rows(torch, rng, split, monkeypatch, softmax,
                                                     rows, bias):
    """Each thread streams its own block of weight rows; the blocks' sums added in order."""
    monkeypatch.setattr(small_dense, "STREAM_SPLIT_MIN_VALUES", 1000)
    x, w = rng.standard_normal((rows, 601)), rng.standard_normal((601, 700))
    b = rng.standard_normal(700) if bias else None
    blocks = small_dense.row_blocks(601, w.size)
    assert len(blocks) == split and blocks[0][0] == 0 and blocks[-1][1] == 601
    out = small_dense.dense(x, w, b, softmax)
    want = torch.tensor(x) @ torch.tensor(w) + (torch.tensor(b) if bias else 0)
    if softmax:
        want = torch.softmax(want, dim=1)
    np.testing.assert_allclose(out, want.numpy(), rtol=1e-12, atol=1e-12)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    out32 = small_dense.dense(x32, w32, None if b is None else b.astype(np.float32), False)
    want32 = x32.astype(np.float64) @ w32 + (0 if b is None else b.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, want32, rtol=0, atol=2e-5 * np.abs(want32).max())


def test_the_dense_row_split_rule(split):
    """Only from STREAM_SPLIT_MIN_VALUES weights per thread (VGG's fc1 and fc2, not 1024²)."""
    assert len(small_dense.row_blocks(4096, 4096 * 4096)) == split
    assert len(small_dense.row_blocks(512, 512 * 4096)) == min(split, 2)
    assert len(small_dense.row_blocks(1024, 1024 * 1024)) == 1
