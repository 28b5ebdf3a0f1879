"""The column-blocked GEMMs equal the plain products, for views of larger arrays too."""

import numpy as np
import pytest

from glassnet.accel import gemm


@pytest.mark.parametrize("p", [1, 7, gemm.BLOCK, 2 * gemm.BLOCK, 3 * gemm.BLOCK + 5])
def test_matmul_into_equals_matmul(rng, p):
    a = rng.standard_normal((5, 9))
    big = rng.standard_normal((9, p + 3))
    b = big[:, 1 : p + 1]  # rows further apart than their length, like a batch chunk
    out_big = np.full((5, p + 4), np.nan)
    out = out_big[:, 2 : p + 2]
    assert gemm.matmul_into(a, b, out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-13, atol=1e-13)
    assert np.isnan(out_big[:, :2]).all() and np.isnan(out_big[:, p + 2 :]).all()


@pytest.mark.parametrize(
    "p", [1, 5, gemm.BLOCK_REDUCE, 2 * gemm.BLOCK_REDUCE, 5 * gemm.BLOCK_REDUCE + 17]
)
@pytest.mark.parametrize("rows", [(4, 6), (70, 80)])  # a small and a large product (no blocks)
def test_matmul_nt_equals_product_with_transpose(rng, p, rows):
    d = rng.standard_normal((rows[0], p + 2))[:, 1 : p + 1]
    c = rng.standard_normal((rows[1], p))
    got = gemm.matmul_nt(d, c)
    assert got.shape == rows
    np.testing.assert_allclose(got, d @ c.T, rtol=1e-12, atol=1e-12)


def test_float32_stays_float32(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 3 * gemm.BLOCK)).astype(np.float32)
    out = gemm.matmul_into(a, b, np.empty((3, 3 * gemm.BLOCK), np.float32))
    assert out.dtype == np.float32
    assert gemm.matmul_nt(b, b[:2]).dtype == np.float32
