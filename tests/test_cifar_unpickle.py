"""``read_batch`` unpickles containers and NumPy arrays only: a hostile pickle runs nothing."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from glassnet.data.cifar import read_batch
from glassnet.data.safepickle import load_arrays
from glassnet.errors import GlassnetError


class RunsAShellCommand:
    """Unpickling this calls ``os.system(command)``: what a malicious batch file would do."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


def batch(n: int = 3) -> dict[bytes, object]:
    rng = np.random.default_rng(0)
    return {b"batch_label": b"test", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, n)]}


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_real_batches_still_read(tmp_path: Path, protocol: int) -> None:
    entry = batch()
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(entry, protocol=protocol))
    x, y = read_batch(path)
    rows = entry[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # type: ignore[union-attr]
    np.testing.assert_array_equal(x, rows)
    np.testing.assert_array_equal(y, entry[b"labels"])


def test_numpy1_module_paths_as_in_the_published_python2_batches() -> None:
    # CIFAR's own files (pickled by Python 2 and NumPy 1) name numpy.core.multiarray; protocol 2
    # writes globals as text lines, so the NumPy 2 path can be swapped for the old one.
    payload = pickle.dumps(batch(), protocol=2)
    assert b"numpy._core.multiarray\n" in payload
    old = payload.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    entry = load_arrays(io.BytesIO(old), encoding="bytes")
    np.testing.assert_array_equal(entry[b"data"], batch()[b"data"])


def test_scalars_and_nested_containers() -> None:
    obj = {"a": [np.float32(1.5), np.int64(-3), (1, 2.5, "s", b"b")], "z": np.eye(2)}
    back = load_arrays(io.BytesIO(pickle.dumps(obj)))
    assert back["a"][0] == np.float32(1.5) and back["a"][0].dtype == np.float32
    assert back["a"][2] == (1, 2.5, "s", b"b")
    np.testing.assert_array_equal(back["z"], np.eye(2))


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    entry = batch()
    entry[b"labels"] = RunsAShellCommand(f"touch {marker}")
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(entry, protocol=2))
    # The control: the same bytes through the ordinary unpickler do run the command.
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(RunsAShellCommand(f"touch {control}")))
    assert control.exists()
    with pytest.raises(GlassnetError, match=rf"cifar: {path} is not a CIFAR python batch "
                       r"\(refused to unpickle global '(posix|os)\.system'") as info:
        read_batch(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("evil", [
    pickle.dumps(eval),  # builtins.eval
    pickle.dumps(np.load),  # an allowed module, another name
    b"cnumpy\nload\n(S'x'\ntR.",  # hand-written GLOBAL + REDUCE
    pickle.dumps(pickle.loads),
])
def test_other_globals_are_refused_by_name(evil: bytes) -> None:
    with pytest.raises(GlassnetError, match=r"refused to unpickle global '[\w.]+\.\w+'"):
        load_arrays(io.BytesIO(evil))
