"""Quantity behaviour, MACs, GEMM shapes, memory and receptive fields."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from glassnet import arith
from glassnet.arith.explain import Quantity
from glassnet.errors import GlassnetError

# AlexNet MACs per layer (output size, kernel, C_in, N) and dense (n_in, n_out); DESIGN.md §4 total.
ALEXNET_CONV = [
    (55, 11, 3, 96),
    (27, 5, 96, 256),
    (13, 3, 256, 384),
    (13, 3, 384, 384),
    (13, 3, 384, 256),
]
ALEXNET_DENSE = [(9216, 4096), (4096, 4096), (4096, 1000)]


def test_quantity_is_an_int():
    q = arith.conv2d_output(227, kernel=11, stride=4)
    assert q == 55 and q < 56 and q + 1 == 56 and type(q + 1) is int
    assert list(range(q))[-1] == 54 and [0] * 2 * q == [0] * 110
    assert str(q) == "55" and f"{q:,}" == "55" and repr(q) == "Quantity(O=55)"
    assert json.dumps({"o": q}) == '{"o": 55}'
    assert hash(q) == hash(55)
    with pytest.raises(AttributeError, match="immutable"):
        q.symbol = "X"


def test_quantity_survives_pickle_and_copy():
    q = arith.conv2d_output(224, kernel=3, stride=2, padding="same")
    for clone in (pickle.loads(pickle.dumps(q)), copy.deepcopy(q)):
        assert clone == q and clone.lines() == q.lines()


def test_thousands_separators():
    q = Quantity(1234567, symbol="X", formula="X = a·b", substituted="1,111·1,111")
    assert q.explain() == "X = a·b = 1,111·1,111 = 1,234,567"


def test_alexnet_macs():
    total = 0
    for out, kernel, c_in, n in ALEXNET_CONV:
        total += arith.conv2d_macs(out, out, kernel, kernel, c_in, n).macs
    for n_in, n_out in ALEXNET_DENSE:
        total += arith.dense_macs(n_in, n_out).macs
    assert total == 1_135_256_096


def test_conv_macs_explain_states_convention():
    result = arith.conv2d_macs(55, 55, 11, 11, 3, 96)
    assert (result.macs, result.flops) == (105_415_200, 210_830_400)
    assert result.explain() == [
        "MACs = OH·OW·K_h·K_w·C_in·N = 55·55·11·11·3·96 = 105,415,200",
        "FLOPs = 2·MACs = 2·105,415,200 = 210,830,400",
        arith.MAC_CONVENTION,
    ]
    assert "torchvision / fvcore" in arith.MAC_CONVENTION
    grouped = arith.conv2d_macs(10, 10, 3, 3, 32, 32, groups=32)
    assert grouped.macs == 10 * 10 * 9 * 32
    assert "(C_in/groups)" in grouped.macs.formula


def test_dense_macs():
    result = arith.dense_macs(9216, 4096)
    assert result.macs == 37_748_736 and result.flops == 2 * 37_748_736
    assert result.macs.explain() == "MACs = n_in·n_out = 9,216·4,096 = 37,748,736"


def test_gemm_shapes_alexnet_conv1():
    gemm = arith.conv2d_gemm_shapes(55, 55, 11, 11, 3, 96)
    assert gemm.cols == (3025, 363) and gemm.weights == (363, 96) and gemm.out == (3025, 96)
    assert gemm.macs == arith.conv2d_macs(55, 55, 11, 11, 3, 96).macs
    lines = gemm.explain()
    assert lines[0] == "cols [OH·OW·N × K_h·K_w·C_in] = [55·55·1 × 11·11·3] = [3,025 × 363]"
    assert lines[2] == "out = cols · weights: [3,025 × 363] · [363 × 96] = [3,025 × 96]"
    assert arith.conv2d_gemm_shapes(55, 55, 11, 11, 3, 96, batch=128).cols == (387_200, 363)


def test_activation_memory():
    mem = arith.activation_memory((55, 55, 96))
    assert mem == 1_161_600
    assert mem.explain() == "M = (∏ shape)·B = 55·55·96·4 = 1,161,600 B = 1.11 MiB"
    assert mem.notes == ("values = 290,400, B = 4 bytes per value",)
    assert arith.activation_memory([10], bytes_per_value=8).explain() == (
        "M = (∏ shape)·B = 10·8 = 80 B"
    )


def test_param_memory():
    mem = arith.param_memory(62_378_344)
    assert mem == 249_513_376
    assert mem.explain() == "M = P·B = 62,378,344·4 = 249,513,376 B = 237.95 MiB"
    assert arith.param_memory(0) == 0
    assert arith.human_bytes(2048) == "2.00 KiB" and arith.human_bytes(3 * 1024**3) == "3.00 GiB"


def test_receptive_field_alexnet():
    # conv1 11/4, pool 3/2, conv2 5 p2, pool 3/2, conv3-5 3 p1, pool 3/2.
    stack = [(11, 4, 0), (3, 2), (5, 1, 2), (3, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2)]
    fields = arith.receptive_field(stack)
    assert [(f.size, f.jump) for f in fields[:2]] == [(11, 4), (19, 8)]
    assert fields[0].start == 5.0  # pixels 0..10, centred on pixel 5
    assert [f.size for f in fields] == [11, 19, 51, 67, 99, 131, 163, 195]
    assert fields[-1].jump == 32 and fields[-1].layer == 8
    assert fields[0].explain() == [
        "r = r_in + (k_eff − 1)·j_in = 1 + (11 − 1)·1 = 11",
        "j = j_in·s = 1·4 = 4",
        "start = start_in + ((k_eff − 1)/2 − p)·j_in = 0 + ((11 − 1)/2 − 0)·1 = 5",
    ]


def test_receptive_field_vgg_stack():
    # n stacked 3×3 stride-1 'same' convs see 2n + 1 pixels; padding 1 keeps the start at 0.
    fields = arith.receptive_field([(3, 1, "same")] * 3 + [(2, 2, 0)])
    assert [f.size for f in fields] == [3, 5, 7, 8]
    assert [f.start for f in fields] == [0.0, 0.0, 0.0, 0.5]
    assert fields[-1].jump == 2


def test_receptive_field_dilation_and_padding():
    (field,) = arith.receptive_field([(3, 1, 0, 2)])
    assert field.size == 5 and field.start == 2.0
    assert field.size.substituted == "1 + ((2·(3−1) + 1) − 1)·1"
    (padded,) = arith.receptive_field([(3, 2, 1)])
    assert padded.start == 0.0 and padded.size == 3
    (valid,) = arith.receptive_field([(2, 1, "valid")])
    assert valid.start == 0.5


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: arith.conv2d_macs(0, 5, 3, 3, 3, 8), r"conv2d_macs: out_h=0 is invalid"),
        (
            lambda: arith.conv2d_macs(5, 5, 3, 3, 3, 8, groups=2),
            r"conv2d_macs: groups=2 does not divide c_in=3",
        ),
        (
            lambda: arith.conv2d_macs(5, 5, 3, 3, 4, 6, groups=4),
            r"conv2d_macs: groups=4 does not divide filters=6",
        ),
        (lambda: arith.dense_macs(3, 0), r"dense_macs: n_out=0 is invalid"),
        (
            lambda: arith.conv2d_gemm_shapes(5, 5, 3, 3, 3, 8, batch=0),
            r"conv2d_gemm_shapes: batch=0 is invalid; expected a positive int",
        ),
        (lambda: arith.activation_memory(()), r"activation_memory: shape=\(\) is invalid"),
        (lambda: arith.activation_memory("55x55"), r"activation_memory: shape='55x55' is invalid"),
        (
            lambda: arith.activation_memory((55, 0)),
            r"activation_memory: shape=\[55, 0\] is invalid; expected a non-empty sequence",
        ),
        (
            lambda: arith.activation_memory((5,), bytes_per_value=0),
            r"activation_memory: bytes_per_value=0 is invalid",
        ),
        (
            lambda: arith.param_memory(-1),
            r"param_memory: params=-1 is invalid; expected a non-negative int",
        ),
        (lambda: arith.param_memory(10, 2.5), r"param_memory: bytes_per_value=2.5 is invalid"),
        (lambda: arith.receptive_field([]), r"receptive_field: layers=\[\] is invalid"),
        (
            lambda: arith.receptive_field([(3, 1), ()]),
            r"receptive_field: layers\[1\]=\(\) is invalid; expected \(kernel, stride=1",
        ),
        (
            lambda: arith.receptive_field([(3, 0)]),
            r"receptive_field: layers\[0\]=\(3, 0\) is invalid",
        ),
        (
            lambda: arith.receptive_field([(3, 1, -1)]),
            r"receptive_field: layers\[0\]=\(3, 1, -1\) is invalid",
        ),
        (
            lambda: arith.receptive_field([(3, 2, "same")]),
            r"receptive_field: layers\[0\]=\(3, 2, 'same'\): padding 'same' with stride 2 "
            r"depends on the input size",
        ),
    ],
)
def test_count_errors(call, match):
    with pytest.raises(GlassnetError, match=match):
        call()
