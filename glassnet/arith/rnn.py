"""Parameter counts of recurrent layers (SimpleRNN, LSTM, GRU), explained.

Symbols: n inputs per step, k units (hidden state size), m output units of an optional dense
output layer on the hidden state, g gate sets (SimpleRNN 1, LSTM 4, GRU 3). Each gate set has an
input kernel [n, k], a recurrent kernel [k, k] and one or two bias vectors of k:

* ``convention="keras"``: one bias vector per gate set, g·(k² + kn + k) — Keras ``SimpleRNN``,
  ``LSTM`` and ``GRU(reset_after=False)``.
* ``convention="pytorch"``: two bias vectors (b_ih and b_hh), g·(k² + kn + 2k) —
  ``torch.nn.RNN/LSTM/GRU`` (one layer, one direction) and also Keras' default
  ``GRU(reset_after=True)``, whose bias has shape [2, 3k].

With m output units the output layer adds km + m.
"""

from __future__ import annotations

from glassnet.arith.explain import ParamCount, Quantity, check_positive, num
from glassnet.errors import GlassnetError

CONVENTIONS = ("keras", "pytorch")


def _convention_note(convention: str, gates: int, layer: str) -> str:
    """Return the line stating which bias convention a count follows, and whose layer it is."""
    g = f"{gates}·" if gates > 1 else ""
    if convention == "keras":
        whose = (
            "Keras GRU(reset_after=False); Keras' default reset_after=True counts like pytorch"
            if layer == "GRU"
            else f"Keras {layer}"
        )
        return f"convention keras: one bias vector per gate set, {g}(k² + kn + k) ({whose})"
    whose = f"torch.nn.{'RNN' if layer == 'SimpleRNN' else layer}, one layer, one direction"
    if layer == "GRU":
        whose += "; also Keras GRU(reset_after=True), the default"
    return (
        f"convention pytorch: two bias vectors per gate set (b_ih, b_hh), {g}(k² + kn + 2k) "
        f"({whose})"
    )


def _recurrent_params(
    fn: str, layer: str, gates: int, n_in: int, k: int, m: int | None, convention: str
) -> ParamCount:
    """Count a recurrent layer with ``gates`` gate sets (see the module docstring).

    Raises:
        GlassnetError: for a non-positive size or an unknown convention.
    """
    check_positive(fn, n_in=n_in, k=k)
    if m is not None:
        check_positive(fn, m=m)
    if convention not in CONVENTIONS:
        raise GlassnetError(
            f"{fn}: convention={convention!r} is invalid; expected one of {list(CONVENTIONS)}"
        )
    n_bias = 1 if convention == "keras" else 2
    kk, nn = num(k), num(n_in)
    bias_sym, bias_num = ("k", kk) if n_bias == 1 else ("2k", f"2·{kk}")

    def per_gates(inner: str) -> str:
        return f"{gates}·({inner})" if gates > 1 else inner

    w_value, w_formula = gates * (k * k + k * n_in), "W = " + per_gates("k² + kn")
    w_sub = per_gates(f"{kk}² + {kk}·{nn}")
    b_value, b_formula = (
        gates * n_bias * k,
        f"b = {gates}·{bias_sym}" if gates > 1 else f"b = {bias_sym}",
    )
    b_sub = f"{gates}·{bias_num}" if gates > 1 else bias_num
    p_formula = "P = " + per_gates(f"k² + kn + {bias_sym}")
    p_sub = per_gates(f"{kk}² + {kk}·{nn} + {bias_num}")
    notes = [_convention_note(convention, gates, layer)]
    if m is not None:
        out_num = f" + {kk}·{num(m)}"
        w_value, w_formula, w_sub = w_value + k * m, w_formula + " + km", w_sub + out_num
        b_value, b_formula, b_sub = b_value + m, b_formula + " + m", b_sub + f" + {num(m)}"
        p_formula, p_sub = p_formula + " + km + m", p_sub + out_num + f" + {num(m)}"
        notes.append(f"output layer (dense k → m on the hidden state): km + m = {num(k * m + m)}")
    return ParamCount(
        weights=Quantity(w_value, symbol="W", formula=w_formula, substituted=w_sub),
        biases=Quantity(b_value, symbol="b", formula=b_formula, substituted=b_sub),
        params=Quantity(w_value + b_value, symbol="P", formula=p_formula, substituted=p_sub),
        notes=tuple(notes),
    )


def simple_rnn_params(
    n_in: int, k: int, m: int | None = None, convention: str = "keras"
) -> ParamCount:
    """Return the parameters of a simple (Elman) RNN: k² + kn + k (keras) or k² + kn + 2k.

    Args:
        n_in: inputs per time step n.
        k: units (hidden state size).
        m: output units of a dense output layer on the hidden state (adds km + m), or None.
        convention: ``"keras"`` (one bias, Keras ``SimpleRNN``) or ``"pytorch"`` (b_ih and b_hh,
            ``torch.nn.RNN``).

    Returns:
        A :class:`ParamCount` whose ``explain()`` states the convention.

    Raises:
        GlassnetError: if a size is not a positive int or the convention is unknown.
    """
    return _recurrent_params("simple_rnn_params", "SimpleRNN", 1, n_in, k, m, convention)


def lstm_params(n_in: int, k: int, m: int | None = None, convention: str = "keras") -> ParamCount:
    """Return the parameters of an LSTM: 4·(k² + kn + k) (keras) or 4·(k² + kn + 2k) (pytorch).

    Four gate sets: input, forget, cell candidate and output.

    Args:
        n_in: inputs per time step n.
        k: units (hidden and cell state size).
        m: output units of a dense output layer on the hidden state (adds km + m), or None.
        convention: ``"keras"`` (one bias per gate, Keras ``LSTM``) or ``"pytorch"`` (b_ih and
            b_hh, ``torch.nn.LSTM``).

    Returns:
        A :class:`ParamCount` whose ``explain()`` states the convention.

    Raises:
        GlassnetError: if a size is not a positive int or the convention is unknown.
    """
    return _recurrent_params("lstm_params", "LSTM", 4, n_in, k, m, convention)


def gru_params(n_in: int, k: int, m: int | None = None, convention: str = "keras") -> ParamCount:
    """Return the parameters of a GRU: 3·(k² + kn + k) (keras) or 3·(k² + kn + 2k) (pytorch).

    Three gate sets: reset, update and candidate. NOTE: ``convention="keras"`` is Keras'
    ``GRU(reset_after=False)``; Keras' default ``reset_after=True`` keeps a second bias vector and
    has 3·(k² + kn + 2k) parameters, the same as ``convention="pytorch"`` (``torch.nn.GRU``).

    Args:
        n_in: inputs per time step n.
        k: units (hidden state size).
        m: output units of a dense output layer on the hidden state (adds km + m), or None.
        convention: ``"keras"`` (one bias per gate) or ``"pytorch"`` (b_ih and b_hh).

    Returns:
        A :class:`ParamCount` whose ``explain()`` states the convention.

    Raises:
        GlassnetError: if a size is not a positive int or the convention is unknown.
    """
    return _recurrent_params("gru_params", "GRU", 3, n_in, k, m, convention)
