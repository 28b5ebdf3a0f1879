"""Nothing process-wide changes at import, and fit/predict/evaluate restore what they change:
NumPy's BLAS thread count and the allocator settings (glassnet.accel.compute_scope)."""

import subprocess
import sys

import numpy as np
from conftest import REPO
from threadpoolctl import threadpool_info

import glassnet as gn
from glassnet import backend
from glassnet import layers as L
from glassnet.accel import parallel
from glassnet.training.callbacks import Callback


def _blas_threads():
    """{library path: threads} of every BLAS loaded so far."""
    return {p["filepath"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def _same_as(before):
    """The libraries loaded before keep their count (one loaded since, e.g. SciPy's, its own)."""
    now = _blas_threads()
    return {k: now[k] for k in before} == before


class _Spy(Callback):
    """Records, during training, what the compute scope holds."""

    def __init__(self):
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append((_blas_threads(), backend.malloc_tuning_active(),
                          parallel.num_threads()))


def test_import_changes_nothing_process_wide():
    code = (
        "import numpy\nfrom threadpoolctl import threadpool_info\n"
        "before = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "import glassnet as gn, glassnet.models, glassnet.training\n"
        "from glassnet import backend\n"
        "after = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "assert before == after, (before, after)\n"
        "assert not backend.malloc_tuning_active()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert out.stdout.strip() == "ok"


def test_import_glassnet_loads_no_fast_path():
    """`import glassnet` stays quick: the seam loads numba and its kernels on first use."""
    code = ("import sys, glassnet\n"
            "print(sorted(m for m in sys.modules\n"
            "             if m == 'numba' or m.startswith('glassnet.accel.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert out.stdout.strip() == "['glassnet.accel.mode']"


def test_fit_predict_evaluate_restore_blas_threads_and_allocator(rng):
    model = gn.Sequential([L.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"),
                           L.MaxPool2D(2), L.Flatten(), L.Dense(3, activation="softmax")])
    model.compile("sgd")
    x, y = rng.standard_normal((64, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, 64)
    before = _blas_threads()
    assert not backend.malloc_tuning_active()
    spy = _Spy()
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[spy])
    assert _same_as(before)
    assert not backend.malloc_tuning_active()
    model.predict(x)
    model.evaluate(x, y)
    assert _same_as(before)
    assert parallel.num_threads() == 1  # outside the scope nothing splits
    (inside_blas, inside_malloc, inside_threads), = spy.seen
    assert inside_threads == parallel.configured_threads()
    if inside_threads > 1:  # the chunks' GEMMs (NumPy's BLAS) get one thread each, inside only
        assert {inside_blas[k] for k in before} == {1}
    assert inside_malloc == (sys.platform.startswith("linux") and backend._mallopt() is not None)
