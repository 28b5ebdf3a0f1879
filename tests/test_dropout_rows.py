"""Dropout masks drawn for the global batch and sliced per shard (issue 16, item 8).

The MPI runs are in tests/test_dist_mpi.py; these check the drawing rule in one process.
"""

from __future__ import annotations

import numpy as np
import pytest

from glassnet import layers as L
from glassnet.errors import GlassnetError
from glassnet.layers.batchrows import batch_rows, current_rows, skip_batch
from glassnet.ops.norm import dropout_forward
from glassnet.tensor import Tensor


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ranks", [2, 3, 4])
def test_shards_masks_are_the_global_batch_s_rows(dtype, ranks):
    x = np.ones((10, 3, 2), dtype=dtype)
    whole, _ = dropout_forward(x, rate=0.4, rng=np.random.default_rng(5), training=True)
    bounds = np.linspace(0, 10, ranks + 1).astype(int)
    parts = [dropout_forward(x[a:b], rate=0.4, rng=np.random.default_rng(5), training=True,
                             rows=(int(a), int(b), 10))[0]
             for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert 0 < np.count_nonzero(whole == 0) < whole.size  # some dropped, some kept


def test_rows_that_do_not_fit_the_input_are_an_error():
    with pytest.raises(GlassnetError, match=r"rows=\(0, 3, 8\) do not fit an input of 2 rows"):
        dropout_forward(np.ones((2, 4)), rate=0.5, rng=np.random.default_rng(0),
                        training=True, rows=(0, 3, 8))


@pytest.mark.parametrize("maps", [False, True])
def test_the_layer_uses_the_rows_the_loop_states(maps):
    """(N, F) inputs: rows are axis 0; maps come in the compute layout CNHW: rows are axis 1."""
    def layer() -> L.Dropout:
        d = L.Dropout(0.5, seed=11)
        d.build((2, 3, 4) if maps else (4,), np.random.default_rng(0))
        return d

    x = np.arange(1, 1 + 8 * 24, dtype=np.float64).reshape((4, 8, 2, 3) if maps else (8, 24))
    pick = (slice(None), slice(2, 5)) if maps else (slice(2, 5),)
    whole = layer().forward(Tensor(x), training=True).data
    d = layer()
    with batch_rows(2, 5, 8):
        assert current_rows() == (2, 5, 8)
        part = d.forward(Tensor(x[pick]), training=True).data
    assert current_rows() is None
    np.testing.assert_array_equal(part, whole[pick])


@pytest.mark.parametrize("shape", [(6, 5), (3, 6, 2, 2)])
def test_skip_batch_moves_the_stream_as_a_forward_pass_would(shape):
    def layer() -> L.Dropout:
        d = L.Dropout(0.3, seed=2)
        d.build((5,) if len(shape) == 2 else (2, 2, 3), np.random.default_rng(0))
        return d

    x = np.ones(shape, dtype=np.float32)
    ran, skipped = layer(), layer()
    ran.forward(Tensor(x), training=True)
    ran.forward(Tensor(x), training=True)
    skipped.forward(Tensor(x), training=True)  # shows the per-sample shape and dtype
    skip_batch([skipped], 6)
    assert ran.rng.bit_generator.state == skipped.rng.bit_generator.state
