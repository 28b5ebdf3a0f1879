"""Dense layers split over the threads (glassnet.accel.dense) against the reference pair."""

import numpy as np
import pytest
from rounding import assert_close

from glassnet.accel import infer


@pytest.mark.parametrize("n,k,m", [(1, 4096, 64), (3, 300, 2000), (32, 512, 512), (2, 5, 7)])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_dense_split_equals_reference(threads, monkeypatch, n, k, m, bias, dt):
    """accel.dense: forward split by output columns, backward by input rows, against the
    reference pair (every value the same dot product, summed as the BLAS blocks it: equal to
    rounding); the small layer (2×5×7) runs the reference itself. The split is forced for
    every size with a low work threshold."""
    from glassnet.accel import dense as fast_dense
    from glassnet.accel import parallel
    from glassnet.ops import basic as ref_basic

    monkeypatch.setattr(parallel, "MIN_WORK_PER_CHUNK", 1 if (n, k, m) != (2, 5, 7) else 1 << 40)
    rng = np.random.default_rng(n + k + m)
    x, w = rng.standard_normal((n, k)).astype(dt), rng.standard_normal((k, m)).astype(dt)
    b = rng.standard_normal(m).astype(dt) if bias else None
    dout = rng.standard_normal((n, m)).astype(dt)
    out, cache = fast_dense.dense_forward(x, w, b)
    ref, rcache = ref_basic.dense_forward(x, w, b)
    assert out.dtype == ref.dtype
    assert_close(out, ref, dt)
    for got, want in zip(fast_dense.dense_backward(dout, cache),
                         ref_basic.dense_backward(dout, rcache), strict=True):
        assert (got is None) == (want is None)
        if got is not None:
            assert got.shape == want.shape and got.dtype == want.dtype
            assert_close(got, want, dt)
    if n >= 2:  # the inference step runs the same drop-in as the training forward: bit for bit
        np.testing.assert_array_equal(infer.dense_values(x, w, b), out)
