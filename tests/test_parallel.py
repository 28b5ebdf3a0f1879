"""Intra-op parallelism: split batches give the serial results, on both kernel paths.

Every test forces splitting (tiny chunk threshold, 2 or 3 threads) so small arrays exercise the
chunked code; float64 results must equal the one-thread results to rounding (only the conv
weight gradient adds partial sums in another order).
"""

import os

import numpy as np
import pytest

import glassnet as gn
from glassnet.accel import (
    conv,
    conv_backward,
    conv_chunks,
    kernels,
    parallel,
    pool,
    small_batch,
    spin,
)
from glassnet.errors import GlassnetError

KERNEL_PATHS = [False, True] if kernels.AVAILABLE else [False]


@pytest.fixture
def threads(monkeypatch):
    """Yield a setter of the thread count with splitting forced; restore the count after."""
    old = parallel.configured_threads()
    monkeypatch.setattr(parallel, "MIN_WORK_PER_CHUNK", 1)
    with parallel.split_scope():  # ops split only inside a scope (fit, predict, bench open one)
        yield parallel.set_num_threads
    parallel.set_num_threads(old)


@pytest.fixture(params=KERNEL_PATHS, ids=lambda k: "numba" if k else "numpy")
def kernel_path(request):
    old = kernels.set_enabled(request.param)
    yield request.param
    kernels.set_enabled(old)


def serial_and_split(threads, f, n_threads=3):
    threads(1)
    one = f()
    threads(n_threads)
    return one, f()


# ----- the splitting itself ---------------------------------------------------------------------
def test_chunks_cover_the_axis_in_order(threads):
    threads(3)
    assert parallel.chunks(10, 10**9) == [(0, 3), (3, 6), (6, 10)]
    assert parallel.chunks(2, 10**9) == [(0, 1), (1, 2)]  # never more chunks than items
    assert parallel.chunks(0, 10**9) == [(0, 0)]


def test_chunks_keep_small_work_whole(monkeypatch):
    old = parallel.configured_threads()
    parallel.set_num_threads(2)
    try:
        assert len(parallel.chunks(128, 2 * parallel.MIN_WORK_PER_CHUNK)) == 1  # no scope
        with parallel.split_scope():
            assert parallel.chunks(128, parallel.MIN_WORK_PER_CHUNK) == [(0, 128)]
            assert len(parallel.chunks(128, 2 * parallel.MIN_WORK_PER_CHUNK)) == 2
    finally:
        parallel.set_num_threads(old)


def test_a_gemm_convolutions_work_counts_its_products(monkeypatch):
    """parallel.gemm_work: the values a GEMM convolution touches, or its multiply-adds at
    MACS_PER_VALUE to a value where those are more — so a weight-heavy convolution on small
    maps is split over the threads (256 → 512 onto 1×1 maps at batch 128: 196 k values, 67 M
    multiply-adds), while one whose values dominate keeps its count (LeNet's second conv)."""
    k, f, positions = 4 * 256, 512, 128
    assert parallel.gemm_work(k, f, positions) == k * f * positions // parallel.MACS_PER_VALUE
    assert parallel.gemm_work(150, 16, 3200) == (150 + 16) * 3200
    old = parallel.configured_threads()
    parallel.set_num_threads(2)
    try:
        with parallel.split_scope():
            assert len(parallel.chunks(128, (k + f) * positions)) == 1  # by values alone
            assert len(parallel.chunks(128, parallel.gemm_work(k, f, positions))) == 2
    finally:
        parallel.set_num_threads(old)


def test_run_returns_results_in_range_order(threads):
    threads(3)
    ranges = parallel.chunks(9, 10**9)
    assert parallel.run(lambda lo, hi: list(range(lo, hi)), ranges) == [[0, 1, 2], [3, 4, 5],
                                                                         [6, 7, 8]]


def test_run_raises_a_chunks_error(threads):
    threads(2)

    def f(lo, hi):
        if lo > 0:
            raise ValueError(f"chunk {lo}")
        return lo

    with pytest.raises(ValueError, match="chunk 1"):
        parallel.run(f, [(0, 1), (1, 2)])


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_bad_values(bad):
    with pytest.raises(GlassnetError, match="positive integer"):
        parallel.set_num_threads(bad)


def test_glassnet_threads_env_is_checked(monkeypatch):
    monkeypatch.setitem(parallel._state, "threads", None)
    monkeypatch.setenv("GLASSNET_THREADS", "zero")
    with pytest.raises(GlassnetError, match="GLASSNET_THREADS='zero'"):
        parallel.configured_threads()
    monkeypatch.setenv("GLASSNET_THREADS", "3")
    assert parallel.configured_threads() == 3


# ----- ops split over the batch -----------------------------------------------------------------
@pytest.mark.parametrize(
    "x_shape,k_shape,kw",
    [
        ((1, 5, 9, 9), (3, 3, 1, 4), {}),
        ((3, 4, 8, 7), (3, 2, 3, 5), {"strides": (2, 1), "padding": "same"}),
        ((2, 3, 9, 9), (2, 2, 2, 3), {"dilation": 2, "padding": 1}),
        ((4, 5, 6, 6), (3, 3, 2, 6), {"groups": 2, "padding": (1, 0, 2, 1)}),
    ],
)
def test_conv2d_split_equals_serial(threads, kernel_path, rng, x_shape, k_shape, kw):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(k_shape)
    b = rng.standard_normal(k_shape[3])

    def run():
        out, cache = conv.conv2d_forward(x, w, b, **kw)
        dout = np.cos(np.arange(out.size)).reshape(out.shape)
        return (out, *conv_backward.conv2d_backward(dout, cache))

    one, many = serial_and_split(threads, run)
    assert len(conv.conv2d_forward(x, w, b, **kw)[1].cols) == 3  # it really split
    # BLAS may order a dot product differently for a narrower matrix (edge tiles), and dL/dw,
    # dL/db add per-chunk partial sums: equal to float64 rounding.
    for a, b in zip(many, one, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not conv_chunks.AVAILABLE, reason="numba not installed")
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize(
    "x_shape,k_shape,kw,bias,need_dx",
    [
        ((1, 6, 40, 40), (5, 5, 1, 6), {}, True, False),  # 7,776 columns: blocked GEMMs
        ((3, 4, 8, 7), (3, 2, 3, 5), {"strides": (2, 1), "padding": "same"}, False, True),
        ((2, 3, 9, 9), (2, 2, 2, 3), {"dilation": 2, "padding": 1}, True, True),
    ],
)
def test_conv_chunk_kernels_equal_the_closures(
    threads, monkeypatch, rng, n_threads, x_shape, k_shape, kw, bias, need_dx
):
    """The one-call chunks (ops.conv_chunks) against the Python closures, split or not."""
    x, w = rng.standard_normal(x_shape), rng.standard_normal(k_shape)
    b = rng.standard_normal(k_shape[3]) if bias else None
    threads(n_threads)

    def run():
        out, cache = conv.conv2d_forward(x, w, b, **kw)
        dout = np.cos(np.arange(out.size)).reshape(out.shape)
        return (out, *conv_backward.conv2d_backward(dout, cache, need_dx=need_dx))

    chunks = run()
    monkeypatch.setattr(small_batch, "usable", lambda *a: False)
    closures = run()
    for a, b_ in zip(chunks, closures, strict=True):
        if a is None:
            assert b_ is None
        else:
            np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "pool_size,strides,padding",
    [(2, None, "valid"), (2, 2, "same"), (3, 2, 1), ((2, 3), (1, 2), 0)],
)
@pytest.mark.parametrize("relu", [False, True])
def test_max_pool_split_equals_serial(threads, kernel_path, rng, pool_size, strides, padding,
                                      relu):
    x = rng.standard_normal((3, 4, 9, 8))

    def run():
        out, cache = pool.max_pool2d_forward(
            x, pool_size=pool_size, strides=strides, padding=padding, relu=relu
        )
        dout = np.sin(np.arange(out.size)).reshape(out.shape)
        return out, pool.max_pool2d_backward(dout, cache)

    one, many = serial_and_split(threads, run, n_threads=2)
    np.testing.assert_array_equal(many[0], one[0])
    np.testing.assert_array_equal(many[1], one[1])


def test_training_step_split_equals_serial(threads, rng):
    x = rng.random((6, 12, 12, 1))
    y = rng.integers(0, 3, size=6)

    def run():
        with gn.backend.dtype_scope("float64"):
            model = gn.Sequential([
                gn.layers.Input((12, 12, 1)),
                gn.layers.Conv2D(4, 3, activation="relu"), gn.layers.MaxPool2D(2),
                gn.layers.Conv2D(5, 3, padding="same", activation="relu"),
                gn.layers.Flatten(), gn.layers.Dense(3, activation="softmax"),
            ], seed=3)
            model.compile(gn.optim.SGD(model.parameters(), lr=0.1))
            model.fit(x, y, epochs=2, batch_size=6, verbose=0)
            return [p.data.copy() for p in model.parameters()]

    one, many = serial_and_split(threads, run)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


# ----- cached geometry --------------------------------------------------------------------------
def test_geometry_cache_still_rejects_bools_and_floats():
    from glassnet.ops.conv import conv_geometry

    good = conv_geometry((8, 8), (3, 3), 1, "valid", 1)
    assert good[0] == (6, 6)
    for strides in (True, (True, 1), 1.0):
        with pytest.raises(GlassnetError, match="strides"):
            conv_geometry((8, 8), (3, 3), strides, "valid", 1)
    # Unhashable arguments are computed, not cached.
    assert conv_geometry((8, 8), (3, 3), [1, 1], "valid", 1) == good


# ----- the spin-waiting worker pool -------------------------------------------------------------
needs_spin = pytest.mark.skipif(not spin.AVAILABLE, reason="needs numba on POSIX")


@needs_spin
def test_wait_while_sees_another_threads_store():
    import threading
    import time

    counters = np.zeros(2, dtype=np.int64)
    assert spin.wait_while(counters, 0, 5, 10)  # already different: at once
    assert not spin.wait_while(counters, 0, 0, 1000)  # unchanged: gives up

    def bump():
        time.sleep(0.01)
        counters[1] += 1

    t = threading.Thread(target=bump)
    t.start()
    assert spin.wait_while(counters, 1, 0, 10**9)
    t.join()


@needs_spin
def test_concurrent_callers_each_get_their_own_results(threads):
    from concurrent.futures import ThreadPoolExecutor

    threads(2)
    ranges = [(0, 50), (50, 100)]

    def call(offset):
        return [parallel.run(lambda lo, hi, o=offset: sum(range(lo, hi)) + o, ranges)
                for _ in range(200)]

    with ThreadPoolExecutor(3) as ex:
        results = list(ex.map(call, [0, 1000, 2000]))
    for offset, got in zip([0, 1000, 2000], results, strict=True):
        assert got == [[sum(range(50)) + offset, sum(range(50, 100)) + offset]] * 200


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_works_in_a_forked_child(threads):
    import time

    threads(2)
    assert parallel.run(lambda lo, hi: hi - lo, [(0, 1), (1, 3)]) == [1, 2]  # pool started
    pid = os.fork()
    if pid == 0:  # the child: its pool's threads did not survive the fork
        ok = False
        try:
            ok = parallel.run(lambda lo, hi: hi - lo, [(0, 1), (1, 3)]) == [1, 2]
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            pytest.fail("the forked child hung in parallel.run")
        time.sleep(0.01)
    assert os.WEXITSTATUS(status) == 0


def test_without_numba_the_thread_pool_executor_splits():
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from glassnet.accel import parallel, spin\n"
        "from glassnet.accel import conv\n"
        "assert not spin.AVAILABLE\n"
        "parallel.MIN_WORK_PER_CHUNK = 1\n"
        "rng = np.random.default_rng(0)\n"
        "x, w = rng.standard_normal((2, 6, 7, 7)), rng.standard_normal((3, 3, 2, 4))\n"
        "parallel.set_num_threads(1); one = conv.conv2d_forward(x, w)[0]\n"
        "parallel.set_num_threads(3)\n"
        "with parallel.split_scope(): out, cache = conv.conv2d_forward(x, w)\n"
        "assert len(cache.cols) == 3\n"
        "np.testing.assert_allclose(out, one, rtol=1e-12, atol=1e-12)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "GLASSNET_NUMBA": "0"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
