"""The fast batch norm (glassnet.accel.norm), alone and fused with a ReLU / ReLU6, against the
reference pairs: forward, running statistics and every gradient (split from
test_accel_differential.py)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rounding import assert_close

from glassnet.accel import kernels
from glassnet.errors import GlassnetError

DTYPES = st.sampled_from([np.float64, np.float32])
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.skipif(not kernels.AVAILABLE, reason="the fast batch norm needs numba")
@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(1, 6),
                       st.integers(1, 6)),
       training=st.booleans(), dtype=DTYPES, seed=st.integers(0, 2**31))
@SETTINGS
def test_fast_batch_norm_equals_reference(threads, shape, training, dtype, seed):
    from glassnet.accel import norm as fast_norm
    from glassnet.ops import norm as ref_norm

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    c = shape[0]
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    stats = [rng.random(c).astype(dtype) + 0.5 for _ in range(2)]
    fast_stats = [s.copy() for s in stats]
    kw = dict(axis=0, training=training, momentum=0.1, eps=1e-5)
    try:
        ref, rcache = ref_norm.batch_norm_forward(x, gamma, beta, *stats, **kw)
    except GlassnetError as exc:  # one value per channel in training: refused alike
        with pytest.raises(type(exc), match="more than 1 value"):
            fast_norm.batch_norm_forward(x, gamma, beta, *fast_stats, **kw)
        return
    out, fcache = fast_norm.batch_norm_forward(x, gamma, beta, *fast_stats, **kw)
    assert out.dtype == ref.dtype == dtype
    assert_close(out, ref, dtype)
    for got, want in zip(fast_stats, stats, strict=True):  # running statistics updated alike
        assert_close(got, want, dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    for got, want in zip(fast_norm.batch_norm_backward(dout, fcache),
                         ref_norm.batch_norm_backward(dout, rcache), strict=True):
        assert got.dtype == want.dtype
        assert_close(got, want, dtype)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="the fast batch norm needs numba")
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_batch_norm_one_region_equals_its_two_steps_bit_for_bit(threads, training, dtype):
    """Statistics and normalisation (sums and dL/dx) in one region per channel range give the
    same bits as the two whole-array steps they replaced (float64 sums, NumPy's casts and
    1 / sqrt(var + eps) between them)."""
    from glassnet.accel import norm as fast_norm

    rng = np.random.default_rng(3)
    shape = (37, 16, 9, 9)  # enough work to split over the threads
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    x[5] = 2.5  # a constant channel: variance 0
    c, m = shape[0], x[0].size
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    stats = [rng.random(c).astype(dtype) + 0.5 for _ in range(2)]
    eps = dtype(1e-5)
    x2 = x.reshape(c, -1)
    if training:
        mean64, var64 = np.empty(c), np.empty(c)
        fast_norm._stats(x2, 0, c, mean64, var64)
        mean, var = mean64.astype(dtype), var64.astype(dtype)
    else:
        mean, var = stats
    inv_std = 1 / np.sqrt(var + eps)
    xhat, want = np.empty_like(x2), np.empty_like(x2)
    fast_norm._normalise(x2, mean, inv_std, gamma, beta, 0, c, xhat, want)
    out, cache = fast_norm.batch_norm_forward(x, gamma, beta, *stats, axis=0, training=training,
                                              eps=1e-5)
    np.testing.assert_array_equal(out.reshape(c, -1), want)
    np.testing.assert_array_equal(cache.inv_std, inv_std)

    d2 = rng.standard_normal(x2.shape).astype(dtype)
    db64, dg64 = np.empty(c), np.empty(c)
    fast_norm._grad_sums(d2, xhat, 0, c, db64, dg64)
    dbeta, dgamma = db64.astype(dtype), dg64.astype(dtype)
    k = (gamma * inv_std).astype(dtype) / (m if training else 1)
    want_dx = np.empty_like(d2)
    fast_norm._grad_x(d2, xhat, k, dtype(m if training else 0), dbeta, dgamma, 0, c, want_dx)
    dx, dg, db = fast_norm.batch_norm_backward(d2.reshape(shape), cache)
    np.testing.assert_array_equal(dx.reshape(c, -1), want_dx)
    np.testing.assert_array_equal(dg, dgamma)
    np.testing.assert_array_equal(db, dbeta)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="the fast batch norm needs numba")
@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(1, 6),
                       st.integers(1, 6)),
       training=st.booleans(), dtype=DTYPES, cap=st.sampled_from([np.inf, 6.0, 0.5]),
       seed=st.integers(0, 2**31))
@SETTINGS
def test_fast_batch_norm_relu_equals_reference(threads, shape, training, dtype, cap, seed):
    """The one-pass BatchNorm + ReLU (cap inf) / clipped ReLU against the reference pairs one
    after the other (ops.fused.batch_norm_relu)."""
    from glassnet.accel import dispatch
    from glassnet.ops import fused as ref_fused

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    c = shape[0]
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    stats = [rng.random(c).astype(dtype) + 0.5 for _ in range(2)]
    fast_stats = [s.copy() for s in stats]
    kw = dict(axis=0, training=training, momentum=0.1, eps=1e-5, relu_cap=cap)
    try:
        ref, rcache = ref_fused.batch_norm_relu_forward(x, gamma, beta, *stats, **kw)
    except GlassnetError:
        return  # one value per channel in training (test_fast_batch_norm_equals_reference)
    out, fcache = dispatch.batch_norm_relu_forward(x, gamma, beta, *fast_stats, **kw)
    assert type(fcache).__name__ == "FastBatchNormCache"
    assert out.dtype == ref.dtype == dtype
    assert_close(out, ref, dtype)
    for got, want in zip(fast_stats, stats, strict=True):
        assert_close(got, want, dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    for got, want in zip(dispatch.batch_norm_relu_backward(dout, fcache),
                         ref_fused.batch_norm_relu_backward(dout, rcache), strict=True):
        assert got.dtype == want.dtype
        assert_close(got, want, dtype)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="the fast batch norm needs numba")
@pytest.mark.parametrize("cap", [np.inf, 6.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_batch_norm_relu_equals_the_two_fast_ops(threads, cap, dtype):
    """Fused, the forward is the fast BatchNorm then the fast ReLU bit for bit (infinite and
    NaN outputs included); the backward's sums run over the masked gradient in another
    vectorised order: equal to rounding."""
    from glassnet.accel import activation as fast_act
    from glassnet.accel import norm as fast_norm

    rng = np.random.default_rng(4)
    shape = (19, 16, 7, 7)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    c = shape[0]
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    beta[3] = np.inf  # a channel of infinite outputs: a plain ReLU passes their gradient
    gamma[4] = np.nan
    kw = dict(axis=0, training=True, eps=1e-5)
    y, ncache = fast_norm.batch_norm_forward(x, gamma, beta, None, None, **kw)
    want, rcache = fast_act.clipped_relu_forward(y, max_value=None if cap == np.inf else cap)
    out, fcache = fast_norm.batch_norm_forward(x, gamma, beta, None, None, relu_cap=cap, **kw)
    np.testing.assert_array_equal(out, want)
    dout = rng.standard_normal(shape).astype(dtype)
    wants = fast_norm.batch_norm_backward(fast_act.relu_backward(dout, rcache), ncache)
    for got, w in zip(fast_norm.batch_norm_backward(dout, fcache), wants, strict=True):
        np.testing.assert_allclose(got, w, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-6 if dtype == np.float32 else 1e-12)
