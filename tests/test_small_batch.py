"""The small-batch inference kernels (accel.small_batch, accel.blas) against PyTorch float64, split
over threads or not, and the inference plan that uses them against the graph path."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rounding import assert_close
from test_infer_plan import ZOO_MODELS, both_paths

import glassnet as gn
from glassnet import layers as L
from glassnet import zoo
from glassnet.accel import blas, infer, kernels, parallel, small_batch
from glassnet.accel.epilogue import Epilogue, finish
from glassnet.backend import dtype_scope
from glassnet.ops import basic as ref_basic
from glassnet.ops import conv as ref_conv
from glassnet.ops import fused as ref_fused
from glassnet.ops.conv import conv_geometry
from glassnet.tensor import no_grad

pytestmark = pytest.mark.skipif(
    not small_batch.AVAILABLE or not blas.gemm_address(np.float64),
    reason="numba or NumPy's BLAS (ILP64 cblas) not available",
)


def torch_conv(torch, x, w, b, strides, pads, dilation):
    """PyTorch float64 conv of CNHW x with [KH, KW, C, F] w and explicit pads; CNHW out."""
    import torch.nn.functional as F

    (pt, pb), (pl, pr) = pads
    xt = torch.tensor(x.transpose(1, 0, 2, 3), dtype=torch.float64)
    xt = F.pad(xt, (pl, pr, pt, pb))
    wt = torch.tensor(w.transpose(3, 2, 0, 1), dtype=torch.float64)
    bt = None if b is None else torch.tensor(b, dtype=torch.float64)
    out = F.conv2d(xt, wt, bt, stride=strides, dilation=dilation)
    return out.numpy().transpose(1, 0, 2, 3)


CONVS = [  # (C, N, H, W), (KH, KW, F), strides, padding, dilation
    ((32, 1, 13, 13), (3, 3, 64), 1, "valid", 1),  # Keras mnist_convnet conv2: channel-last
    ((1, 1, 28, 28), (3, 3, 32), 1, "valid", 1),  # its conv1: plane by plane
    ((3, 2, 12, 11), (3, 3, 5), 2, "same", 1),
    ((9, 3, 9, 10), (2, 3, 6), (1, 2), (1, 2), (2, 1)),
    ((4, 1, 7, 7), (1, 1, 3), 1, 0, 1),
    ((6, 1, 4, 5), (3, 3, 24), 1, "same", 1),  # more filters than positions: split by filters
    ((40, 1, 2, 2), (3, 3, 9), 1, 1, 1),  # channel-last windows, by filters
    ((256, 1, 2, 2), (3, 3, 120), 1, 1, 1),  # a 1.1 MB kernel over 4 positions: streamed
    ((10, 1, 30, 30), (3, 3, 10), 1, "valid", 1),  # TinyVGG conv_2_1: 10 channels, plane by plane
    ((24, 1, 9, 9), (3, 3, 16), 1, "same", 1),  # 24 > 2·9 channels: channel-last
    ((64, 1, 2, 2), (3, 3, 512), 1, "same", 1),  # streamed, 4 of 9 taps live per position
    ((30, 1, 3, 3), (3, 3, 1024), 1, (1, 0, 0, 1), 1),  # streamed, uneven padding
]


def test_live_taps_mark_the_taps_that_read_the_input():
    """A 3×3 'same' conv over 2×2: each position reads 4 taps; over 3×3 the centre all 9."""
    for hw, counts in [((2, 2), [4, 4, 4, 4]), ((3, 3), [4, 6, 4, 6, 9, 6, 4, 6, 4])]:
        geometry = conv_geometry(hw, (3, 3), 1, "same", 1)
        live = small_batch._live_taps((5, 1, *hw), (3, 3), geometry)
        assert live.shape == (1, *hw, 9) and live.dtype == np.uint8
        assert live.reshape(-1, 9).sum(axis=1).tolist() == counts
    live = small_batch._live_taps((5, 1, 2, 2), (3, 3), conv_geometry((2, 2), (3, 3), 1, 1, 1))
    assert live[0, 0, 0].tolist() == [0, 0, 0, 0, 1, 1, 0, 1, 1]  # (0, 0): taps (1..2, 1..2)


def test_windows_channel_last_only_for_runs_twice_a_plane_rows():
    """The rule: channel-last windows where C > CHANNEL_LAST_RUNS · OW."""
    for c, hw, channel_last in [(10, 30, False), (32, 32, False), (32, 8, True), (24, 9, True)]:
        geometry = conv_geometry((hw, hw), (3, 3), 1, "same", 1)
        for pool in (False, True):
            rows = small_batch.ConvRows((c, 1, hw, hw), (3, 3, c, 16), geometry, np.float64,
                                        relu_pool=pool)
            assert rows.channel_last is channel_last
            assert all(part[14] is (channel_last or part[12]) for part in rows.parts)


def test_the_product_goes_into_the_planes_unless_split_by_filters():
    """Kernelᵀ · windowsᵀ into the planes; positions × filters where the kernel is larger."""
    for c, f, hw, by_filters in [(16, 32, 16, False), (128, 256, 8, True), (256, 512, 4, True)]:
        geometry = conv_geometry((hw, hw), (3, 3), 1, "same", 1)
        rows = small_batch.ConvRows((c, 1, hw, hw), (3, 3, c, f), geometry, np.float64)
        assert rows.by_filters is by_filters
        assert all(part[15] is not by_filters for part in rows.parts)


def test_a_large_kernel_over_few_positions_is_streamed(rng):
    """The rule: ≤ FEW_POSITIONS positions per part and ≥ STREAM_MIN_VALUES kernel values."""
    geometry = conv_geometry((2, 2), (3, 3), 1, 1, 1)
    for c, f, streamed in [(256, 120, True), (16, 120, False)]:
        for pool in (False, True):
            rows = small_batch.ConvRows((c, 1, 2, 2), (3, 3, c, f), geometry, np.float64,
                                        relu_pool=pool)
            assert all(part[12] is streamed for part in rows.parts)
            assert len(rows.parts) == 1 or not streamed  # a streamed conv runs as one part
    geometry = conv_geometry((4, 4), (3, 3), 1, 1, 1)  # 16 positions: the GEMM
    rows = small_batch.ConvRows((256, 1, 4, 4), (3, 3, 256, 120), geometry, np.float64)
    assert not any(part[12] for part in rows.parts)


@pytest.mark.parametrize("x_shape,k,strides,padding,dilation", CONVS)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_rows_equals_torch(torch, rng, split, x_shape, k, strides, padding, dilation, bias):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((k[0], k[1], x_shape[0], k[2]))
    b = rng.standard_normal(k[2]) if bias else None
    geometry = conv_geometry(x_shape[2:], k[:2], strides, padding, dilation)
    out = small_batch.conv2d_rows(x, w, b, geometry)
    want = torch_conv(torch, x, w, b, geometry[2], geometry[1], geometry[3])
    assert out.shape == want.shape
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    # Flattened in (H, W, C) order: written through a strided view, not plane by plane.
    flat = small_batch.ConvRows(x.shape, w.shape, geometry, x.dtype, flat=True)(x, w, b)
    np.testing.assert_allclose(flat, want.transpose(1, 2, 3, 0).reshape(x_shape[1], -1),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape,k,strides,padding,dilation", CONVS)
@pytest.mark.parametrize("clip,cap", [(False, np.inf), (True, np.inf), (True, 0.5)])
def test_conv_rows_epilogue_equals_torch_then_finish(torch, rng, split, x_shape, k, strides,
                                                     padding, dilation, clip, cap):
    """A folded BatchNorm + ReLU / ReLU6-like clip, applied as the cells are written."""
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((k[0], k[1], x_shape[0], k[2]))
    epilogue = Epilogue(rng.standard_normal(k[2]), rng.standard_normal(k[2]), clip, cap)
    geometry = conv_geometry(x_shape[2:], k[:2], strides, padding, dilation)
    rows = small_batch.ConvRows(x.shape, w.shape, geometry, x.dtype)
    if split > 1 and k[2] >= x_shape[1] * geometry[0][0] * geometry[0][1] and not rows.parts[0][12]:
        assert rows.by_filters and len({p[10:12] for p in rows.parts}) == len(rows.parts) > 1
    out = rows(x, w, None, epilogue)
    want = finish(torch_conv(torch, x, w, None, geometry[2], geometry[1], geometry[3]), epilogue)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="fold the bias"):
        rows(x, w, np.ones(k[2]), epilogue)


@pytest.mark.parametrize("x_shape,k,strides,padding,dilation", CONVS[:4] + CONVS[5:])
@pytest.mark.parametrize("flat", [False, True])
def test_conv_relu_pool_equals_torch(torch, rng, split, x_shape, k, strides, padding, dilation,
                                     flat):
    import torch.nn.functional as F

    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((k[0], k[1], x_shape[0], k[2]))
    b = rng.standard_normal(k[2])
    geometry = conv_geometry(x_shape[2:], k[:2], strides, padding, dilation)
    run = small_batch.ConvRows(x.shape, w.shape, geometry, x.dtype, relu_pool=True, flat=flat)
    out = run(x, w, b)
    z = torch.tensor(torch_conv(torch, x, w, b, geometry[2], geometry[1], geometry[3]))
    want = F.relu(F.max_pool2d(z.permute(1, 0, 2, 3), 2)).numpy()  # NCHW
    want = want.transpose(0, 2, 3, 1).reshape(x_shape[1], -1) if flat else want.transpose(
        1, 0, 2, 3)
    assert out.shape == want.shape
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


def test_conv_rows_float32_is_float32_and_close(torch, rng):
    x = rng.standard_normal((32, 1, 13, 13)).astype(np.float32)
    w = rng.standard_normal((3, 3, 32, 64)).astype(np.float32)
    geometry = conv_geometry((13, 13), (3, 3), 1, "valid", 1)
    out = small_batch.conv2d_rows(x, w, None, geometry)
    want = torch_conv(torch, x, w, None, geometry[2], geometry[1], geometry[3])  # float64
    assert out.dtype == np.float32
    # 288 products of ~unit values: float32 rounding, a few 1e-6 relative to the sums' scale.
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5 * np.abs(want).max())


@st.composite
def batch_one_convs(draw):
    """A batch-1 convolution, optionally with the fused ReLU + 2×2 pool (+ Flatten)."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return dict(
        c=draw(st.sampled_from([1, 3, 8, 17, 40])), f=draw(st.sampled_from([1, 4, 10, 33])),
        hw=(draw(st.integers(kh + 1, 14)), draw(st.integers(kw + 1, 14))), k=(kh, kw),
        strides=draw(st.sampled_from([1, 2, (1, 2)])), dilation=draw(st.sampled_from([1, 2])),
        padding=draw(st.sampled_from(["valid", "same", 1])), bias=draw(st.booleans()),
        pool=draw(st.booleans()), flatten=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float64, np.float32])), seed=draw(st.integers(0, 2**31)),
    )


@given(case=batch_one_convs())
@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_batch_one_conv_step_equals_reference(split, case):
    """The batch-1 ConvStep (both window layouts, products into the planes or split by filters,
    streamed or not, fused pool and Flatten) equals the reference ops to rounding."""
    rng = np.random.default_rng(case["seed"])
    dt, (kh, kw), c, f = case["dtype"], case["k"], case["c"], case["f"]
    x = rng.standard_normal((c, 1, *case["hw"])).astype(dt)
    w = rng.standard_normal((kh, kw, c, f)).astype(dt)
    b = rng.standard_normal(f).astype(dt) if case["bias"] else None
    hyper = dict(strides=case["strides"], padding=case["padding"], dilation=case["dilation"])
    try:
        geo = ref_conv.conv_geometry(case["hw"], (kh, kw), case["strides"], case["padding"],
                                     case["dilation"])
    except gn.errors.GlassnetError:
        return
    pool = case["pool"] and min(geo.out_hw) >= 2
    want = ref_conv.conv2d_forward(x, w, b, **hyper)[0]
    step_pool = None
    if pool:
        step_pool = infer.PoolStep(geo.out_hw, 2, 2, "valid", False, relu=True)
        want = ref_fused.max_pool2d_relu_forward(want, pool_size=2, strides=2, padding="valid",
                                                 ceil_mode=False)[0]
    flatten = case["flatten"] and pool
    if flatten:
        want = ref_basic.flatten_maps(want)
    step = infer.ConvStep(geo, 1, step_pool, flatten=flatten)
    got = step(x, w, b)
    assert step._small_kernel(x, w) is not None  # the small-batch kernels ran
    assert got.dtype == dt and got.shape == want.shape
    assert_close(got, want, dt)


def test_blas_gemm_found_and_checked():
    for dtype in (np.float32, np.float64):
        addr = blas.gemm_address(dtype)
        assert addr != 0 and blas._works(addr, np.dtype(dtype))
    assert blas.gemm_address(np.int64) == 0  # no integer GEMM: the callers keep NumPy


def test_usable_needs_one_float_dtype_and_the_kernels(rng):
    x32, x64 = np.zeros((1, 2), np.float32), np.zeros((1, 2))
    assert small_batch.usable(x64, x64) and small_batch.usable(x32, x32)
    assert not small_batch.usable(x32, x64)
    old = kernels.set_enabled(False)
    try:
        assert not small_batch.usable(x64, x64)
    finally:
        kernels.set_enabled(old)


def test_a_failing_worker_part_raises_in_the_caller(split):
    calls = []

    def kernel(tag, sync, started, done, post, seen):  # a Python stand-in for a nogil kernel
        calls.append(tag)
        if tag == "worker":
            raise ValueError("boom in part 1")

    if split == 1:
        parallel.run_kernel(kernel, [("caller",)])
        assert calls == ["caller"]
        return
    with pytest.raises(ValueError, match="boom in part 1"):
        parallel.run_kernel(kernel, [("caller",), ("worker",)])
    assert sorted(calls) == ["caller", "worker"]
    parallel.run_kernel(kernel, [("caller",), ("caller",)])  # the pool still works after


# ----- the inference plan at batch 1 ------------------------------------------------------------
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 2e-5)])
@pytest.mark.parametrize("name,shape", ZOO_MODELS)
def test_batch_one_plan_equals_graph_to_rounding(rng, split, dtype, tol, name, shape):
    with dtype_scope(dtype):
        model = zoo.get(name, input_shape=shape, seed=1).build()
        x = rng.random((1, *shape)).astype(dtype)
        planned, graph = both_paths(model, x)
    assert planned.dtype == graph.dtype == np.dtype(dtype)
    np.testing.assert_allclose(planned, graph, rtol=tol, atol=tol * np.abs(graph).max())


def test_batch_one_plan_fuses_conv_pool_flatten(rng, monkeypatch):
    model = zoo.get("keras_mnist_convnet", seed=0).build()
    # conv→ReLU→pool, conv→ReLU→pool→Flatten, Dropout, Dense(softmax).
    steps = model.steps()
    assert [type(s.layer).__name__ for s in steps] == [
        "ConvReLUPool", "ConvReLUPool", "Dropout", "Dense"]
    assert steps[1].layer.flatten is not None
    made = []
    original = small_batch.ConvRows.__init__

    def spy(self, *args, **kwargs):
        made.append(kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(small_batch.ConvRows, "__init__", spy)
    with no_grad():
        model.forward(rng.random((1, 28, 28, 1)).astype(np.float32))
    # Each fused conv runs as ONE small-batch kernel with its pool (and the Flatten).
    assert made == [dict(relu_pool=True, flat=False), dict(relu_pool=True, flat=True)]


def test_batch_one_every_layer_kind(rng):
    with dtype_scope("float64"):
        model = gn.Sequential([
            L.Input((12, 11, 9)),
            L.Conv2D(8, 3, strides=2, padding="same", activation="tanh"),
            L.Conv2D(9, 3, padding=1, activation="relu"),
            L.MaxPool2D(2),  # conv(relu) -> 2×2 max-pool: the fused kernel
            L.Conv2D(5, 2, dilation_rate=1, activation="relu"),
            L.MaxPool2D(3, strides=1, padding="same"),  # fused ReLU, not the 2×2 kernel
            L.Conv2D(4, 1, activation="relu"),
            L.MaxPool2D(2),
            L.Flatten(),
            L.Dense(7, activation="relu"),
            L.Dense(3, activation="softmax"),
        ], seed=2).build()
        planned, graph = both_paths(model, rng.standard_normal((1, 12, 11, 9)))
    np.testing.assert_allclose(planned, graph, rtol=1e-12, atol=1e-14)


def test_batch_one_plan_reads_the_current_weights(rng):
    model = zoo.get("keras_mnist_convnet", seed=0).build()
    x = rng.random((1, 28, 28, 1)).astype(np.float32)
    before, _ = both_paths(model, x)
    for p in model.parameters():
        p.data *= 0.5  # in place, as the optimizers update
    after, graph = both_paths(model, x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, graph, rtol=2e-5, atol=1e-6)


def test_batch_one_without_the_kernels_is_the_graph_path_exactly(rng):
    model = zoo.get("keras_mnist_convnet", seed=0).build()
    x = rng.random((1, 28, 28, 1)).astype(np.float32)
    old = kernels.set_enabled(False)
    try:
        planned, graph = both_paths(model, x)
    finally:
        kernels.set_enabled(old)
    np.testing.assert_array_equal(planned, graph)


def test_batch_one_in_a_forked_child_after_a_split(rng, monkeypatch):
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    monkeypatch.setattr(small_batch, "MIN_MACS_PER_PART", 1)
    old = parallel.configured_threads()
    parallel.set_num_threads(2)
    try:
        model = zoo.get("keras_mnist_convnet", seed=0).build()
        x = rng.random((1, 28, 28, 1)).astype(np.float32)
        with parallel.split_scope():
            planned, _ = both_paths(model, x)  # the pool's worker ran a part
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit code
            with no_grad():
                ok = np.array_equal(model.forward(x).data, planned)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        parallel.set_num_threads(old)


def test_without_numba_batch_one_runs_the_numpy_path():
    code = (
        "import numpy as np, glassnet as gn\n"
        "from glassnet.accel import small_batch\n"
        "from glassnet.tensor import no_grad\n"
        "assert not small_batch.AVAILABLE\n"
        "m = gn.zoo.get('keras_mnist_convnet', seed=0).build()\n"
        "x = np.random.default_rng(0).random((1, 28, 28, 1)).astype(np.float32)\n"
        "with no_grad():\n"
        "    a = m.forward(x).data\n"
        "assert np.array_equal(a, m.forward(x).data)\n"
    )
    env = {**os.environ, "GLASSNET_NUMBA": "0"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO)
