"""Recurrent parameter counts: Keras formulas by hand, pytorch convention against torch."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glassnet import arith
from glassnet.errors import GlassnetError

LAYERS = [
    (arith.simple_rnn_params, "RNN", 1),
    (arith.lstm_params, "LSTM", 4),
    (arith.gru_params, "GRU", 3),
]


@pytest.mark.parametrize(("count", "torch_name", "gates"), LAYERS)
def test_keras_convention_by_hand(count, torch_name, gates):
    n, k = 16, 32
    result = count(n, k)
    assert result.params == gates * (k * k + k * n + k)
    assert result.weights == gates * (k * k + k * n) and result.biases == gates * k
    assert "convention keras: one bias vector per gate set" in result.explain()[-1]


def test_known_keras_counts():
    # SimpleRNN(units=2) on 3 inputs: 2² + 2·3 + 2 = 12; LSTM(32) on 16 inputs: 6,272.
    assert arith.simple_rnn_params(3, 2).params == 12
    assert arith.lstm_params(16, 32).params == 6272
    # GRU(reset_after=False) on 16 inputs, 32 units: 3·(1024 + 512 + 32) = 4,704.
    assert arith.gru_params(16, 32).params == 4704


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from(LAYERS))
def test_pytorch_convention_matches_torch(torch, n, k, layer):
    count, torch_name, _ = layer
    module = getattr(torch.nn, torch_name)(n, k)
    expected = sum(p.numel() for p in module.parameters())
    assert count(n, k, convention="pytorch").params == expected


@pytest.mark.parametrize(("count", "torch_name", "gates"), LAYERS)
def test_output_layer_matches_torch_linear(torch, count, torch_name, gates):
    n, k, m = 7, 11, 5
    modules = [getattr(torch.nn, torch_name)(n, k), torch.nn.Linear(k, m)]
    expected = sum(p.numel() for mod in modules for p in mod.parameters())
    result = count(n, k, m, convention="pytorch")
    assert result.params == expected
    assert result.params == count(n, k, convention="pytorch").params + k * m + m
    note = f"output layer (dense k → m on the hidden state): km + m = {k * m + m}"
    assert result.explain()[-1] == note


def test_lstm_explain():
    lines = arith.lstm_params(50, 100, 10).explain()
    assert lines[:3] == [
        "W = 4·(k² + kn) + km = 4·(100² + 100·50) + 100·10 = 61,000",
        "b = 4·k + m = 4·100 + 10 = 410",
        "P = 4·(k² + kn + k) + km + m = 4·(100² + 100·50 + 100) + 100·10 + 10 = 61,410",
    ]


def test_conventions_are_stated():
    pytorch = arith.simple_rnn_params(3, 2, convention="pytorch").explain()
    assert pytorch[2] == "P = k² + kn + 2k = 2² + 2·3 + 2·2 = 14"
    assert "torch.nn.RNN" in pytorch[3]
    keras_gru = arith.gru_params(3, 2).explain()[-1]
    assert "GRU(reset_after=False)" in keras_gru and "reset_after=True" in keras_gru
    assert "Keras GRU(reset_after=True)" in arith.gru_params(3, 2, convention="pytorch").notes[0]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: arith.simple_rnn_params(0, 4), r"simple_rnn_params: n_in=0 is invalid"),
        (lambda: arith.lstm_params(3, 0), r"lstm_params: k=0 is invalid; expected a positive int"),
        (lambda: arith.gru_params(3, 4, m=0), r"gru_params: m=0 is invalid"),
        (
            lambda: arith.gru_params(3, 4, convention="tf"),
            r"gru_params: convention='tf' is invalid; expected one of \['keras', 'pytorch'\]",
        ),
    ],
)
def test_rnn_errors(call, match):
    with pytest.raises(GlassnetError, match=match):
        call()
