"""Shared test fixtures: the PyTorch float64 oracle and the worked examples in ../shared/cases/."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# The explainer page's view fixtures (mnist, desktop, phone), for test_explain_view*.py; a
# module's own fixture of the same name (test_explain_browser's desktop) takes precedence.
from explain_view_pages import desktop, mnist, phone  # noqa: F401

# A test run started in the background by a non-interactive shell (`cmd &`, `nohup`) inherits
# SIGINT ignored (POSIX), and so would every command the tests start: the Ctrl-C and resume
# tests need the signal delivered. Restore Python's own handler for this process (children then
# start with the default disposition, as a terminal's would).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parent.parent
# Copies of ../shared/cases/ (the worked examples with their true values), kept in the repo so the
# tests do not depend on where the checkout sits.
CASES_DIR = Path(__file__).resolve().parent / "cases"


# In CI (CI=true) or with GLASSNET_REQUIRE_TORCH=1 a missing oracle is a failure, never a skip.
REQUIRE_ORACLES = os.environ.get("CI") == "true" or os.environ.get("GLASSNET_REQUIRE_TORCH") == "1"


def _load_torch() -> Any:
    try:
        import torch
    except ImportError:
        if REQUIRE_ORACLES:
            raise
        return None
    torch.set_num_threads(1)
    return torch


_TORCH = _load_torch()


@pytest.fixture(scope="session")
def torch() -> Any:
    """PyTorch as a float64 oracle; skipped when absent, a failure in CI."""
    if _TORCH is None:
        pytest.skip("torch is not installed (set GLASSNET_REQUIRE_TORCH=1 to fail instead)")
    return _TORCH


def t64(torch_mod: Any, a: np.ndarray, requires_grad: bool = True) -> Any:
    """A float64 torch leaf tensor holding a copy of ``a``."""
    return torch_mod.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def load_case(name: str) -> dict[str, Any]:
    """Load one worked example (a copy of ../shared/cases/NAME)."""
    return json.loads((CASES_DIR / name).read_text())


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def float64() -> Any:
    """glassnet's default dtype float64 for the test, restored after it."""
    import glassnet as gn

    old = gn.default_dtype()
    gn.set_default_dtype("float64")
    yield
    gn.set_default_dtype(old)


def _split_over(count: int) -> Iterator[int]:
    """Inside a split scope of ``count`` threads; the configured count restored after."""
    from glassnet.accel import parallel

    old = parallel.configured_threads()
    parallel.set_num_threads(count)
    with parallel.split_scope():
        yield count
    parallel.set_num_threads(old)


@pytest.fixture(params=[1, 2], ids=["1thr", "2thr"])
def threads(request: Any, monkeypatch: Any) -> Any:
    """One thread, or two with every op split as far as it goes (the fast-path tests)."""
    from glassnet.accel import parallel

    monkeypatch.setattr(parallel, "MIN_WORK_PER_CHUNK", 1)
    yield from _split_over(request.param)



@pytest.fixture(params=[1, 2, 3], ids=lambda t: f"{t}thr")
def split(request: Any, monkeypatch: Any) -> Any:
    """1-3 threads with every batch-1 convolution split as far as it goes (small-batch tests)."""
    from glassnet.accel import small_batch

    monkeypatch.setattr(small_batch, "MIN_MACS_PER_PART", 1)
    yield from _split_over(request.param)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium per test module (the explainer page tests; skips without one)."""
    from browser import chromium

    yield from chromium()
