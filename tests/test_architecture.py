"""The architecture (docs/architecture.md, "Layers and imports"): imports flow one way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers as L
from glassnet import optim
from glassnet.errors import GlassnetError
from glassnet.models import Sequential
from glassnet.models.api import KerasMethods, TrainingEngine, training_engine

ROOT = Path(__file__).resolve().parents[1]


def _fresh(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120, check=True)
    return proc.stdout


def test_importing_models_loads_no_data_dist_onnx_or_training_module() -> None:
    out = _fresh("import sys, glassnet.models\n"
                 "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('glassnet'))))")
    loaded = out.split()
    assert "glassnet.models.graph" in loaded
    upper = ("glassnet.data", "glassnet.dist", "glassnet.onnx", "glassnet.training")
    assert [m for m in loaded if m.startswith(upper)] == []


def test_a_plain_fit_never_imports_dist() -> None:
    out = _fresh(
        "import sys, numpy as np\n"
        "from glassnet.models import Sequential\n"
        "from glassnet import layers as L\n"
        "m = Sequential([L.Input((3,)), L.Dense(2, activation='softmax')])\n"
        "m.compile('sgd')\n"
        "m.fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), verbose=0)\n"
        "print(sorted(k for k in sys.modules if k.startswith(('glassnet.dist', 'mpi4py'))))"
    )
    assert out.strip() == "[]"


def _lint_imports() -> Path | None:
    exe = Path(sys.executable).with_name("lint-imports")
    return exe if exe.exists() else None


def test_lint_imports_keeps_the_layers_contract() -> None:
    exe = _lint_imports()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("lint-imports is not installed (pip install 'glassnet[test]')")
        pytest.skip("import-linter is not installed")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([str(exe), "--no-cache"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_the_engine_behind_fit_is_installed_by_the_composition_root() -> None:
    engine = training_engine()
    assert isinstance(engine, TrainingEngine)
    assert type(engine).__module__ == "glassnet.training.engine"
    assert issubclass(gn.Model, KerasMethods) and issubclass(Sequential, KerasMethods)


def test_fit_works_on_models_imported_from_glassnet_models() -> None:
    model = Sequential([L.Input((4,)), L.Dense(3, activation="softmax")], seed=0)
    model.compile("sgd", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(16, 4))
    hist = model.fit(x, np.arange(16) % 3, epochs=2, batch_size=8, verbose=0)
    assert hist.epochs == 2 and set(hist.history) == {"loss", "accuracy"}


def test_one_optimizer_registry_serves_compile_and_the_cli() -> None:
    assert optim.NAMES == ("sgd", "adam", "adamw", "rmsprop")
    params = [gn.Parameter(np.zeros(3))]
    assert isinstance(optim.get("ADAM", params), optim.Adam)
    assert optim.lookup("rmsprop") is optim.RMSProp
    with pytest.raises(GlassnetError, match=r"optimizer 'lamb' is not one of \['sgd', 'adam'"):
        optim.get("lamb", params)
    model = Sequential([L.Input((2,)), L.Dense(2)])
    with pytest.raises(GlassnetError, match=r"compile: optimizer='lamb' is not one of \['sgd'"):
        model.compile("lamb")
