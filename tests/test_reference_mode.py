"""trace, gradcheck and the explainer run the reference core: no function of glassnet.accel but
the dispatcher itself is called. And outside reference mode the fast paths really run (so the
check can fail)."""

import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

import glassnet as gn
from glassnet import accel
from glassnet import layers as L
from glassnet.accel import kernels

ACCEL = str(Path(gn.__file__).parent / "accel")
SEAM = {"dispatch.py", "infer.py", "mode.py", "__init__.py"}  # they choose; they compute nothing
SPECS = REPO / "tests" / "trace_specs"


def _calls(fn):
    """Every Python function called while ``fn`` runs, as 'path:name' (all threads)."""
    seen = []

    def profile(frame, event, arg):
        if event == "call":
            seen.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return seen


def _accel_calls(calls):
    return [c for c in calls if c.startswith(ACCEL) and Path(c.split(":")[0]).name not in SEAM]


def _conv_pool_model():
    model = gn.Sequential([
        L.Input((8, 8, 2)),
        L.Conv2D(4, 3, padding="same", activation="relu"), L.MaxPool2D(2),
        L.Conv2D(3, 3, activation="relu"), L.Flatten(), L.Dense(3, activation="softmax"),
    ])
    with gn.backend.dtype_scope("float64"):
        model.build()
    return model


@pytest.fixture
def data(rng):
    return rng.standard_normal((64, 8, 8, 2)), rng.integers(0, 3, 64)


def test_training_outside_reference_mode_runs_the_fast_paths(data):
    model, (x, y) = _conv_pool_model(), data
    from glassnet.training.loop import batch_loss

    calls = _calls(lambda: batch_loss(
        model, model.forward(x), y, "sparse_categorical_crossentropy", False).backward())
    fast = _accel_calls(calls)
    assert any("accel/conv.py:conv2d_forward" in c for c in fast)
    if kernels.AVAILABLE:
        assert any("accel/pool.py:max_pool2d_forward" in c for c in fast)


def test_gradcheck_runs_only_the_reference_core(data):
    model, (x, y) = _conv_pool_model(), data
    calls = _calls(lambda: gn.gradcheck(model, x[:4], y[:4]))
    assert _accel_calls(calls) == []
    assert any(c.endswith("ops/conv.py:conv2d_forward") for c in calls)
    assert any(c.endswith("ops/conv.py:conv2d_backward") for c in calls)
    assert any(c.endswith("ops/fused.py:max_pool2d_relu_forward") for c in calls)


@pytest.mark.parametrize("spec", ["rgb_7x7x3_stride2_pad1.json", "leaky_maxpool_bce.json"])
def test_trace_runs_only_the_reference_core(spec):
    calls = _calls(lambda: gn.trace(SPECS / spec))
    assert _accel_calls(calls) == []
    assert any(c.endswith("ops/conv.py:conv2d_forward") for c in calls)


def test_reference_mode_routes_every_op_and_restores(data):
    model, (x, _) = _conv_pool_model(), data
    assert not accel.reference_active()
    with gn.reference_mode():
        assert accel.reference_active()
        calls = _calls(lambda: model.forward(x, training=True))
        with gn.reference_mode(False):
            assert not accel.reference_active()
    assert not accel.reference_active()
    assert _accel_calls(calls) == []
    # The same numbers as the fast paths, to rounding.
    with gn.reference_mode():
        ref = model.forward(x, training=True).data
    np.testing.assert_allclose(model.forward(x, training=True).data, ref, rtol=1e-12, atol=1e-12)


def test_reference_env_variable(tmp_path):
    import subprocess

    code = ("import glassnet as gn\nfrom glassnet import accel\n"
            "print(accel.reference_active())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"GLASSNET_REFERENCE": "1", "PATH": "", "PYTHONPATH": str(REPO)},
                         check=True)
    assert out.stdout.strip() == "True"
