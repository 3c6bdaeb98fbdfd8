"""Explicit cells: the lecture's vanilla formula by hand, and torch.nn's GRU/LSTM cells."""

import math

import pytest
import torch

from multimodal_rnn.recurrent import GRUCell, LSTMCell, VanillaRNNCell
from multimodal_rnn.recurrent.cells import rnn_recurrence


def test_vanilla_cell_matches_hand_computed_numbers():
    cell = VanillaRNNCell(2, 2, output_size=1).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor([[0.5, -1.0], [2.0, 0.0]]))  # W_xh
        cell.weight_hh.copy_(torch.tensor([[1.0, 0.0], [0.5, -0.5]]))  # W_hh
        cell.bias_ih.copy_(torch.tensor([0.1, 0.0]))
        cell.bias_hh.copy_(torch.tensor([0.0, -0.2]))  # b = (0.1, -0.2)
        cell.weight_hy.copy_(torch.tensor([[3.0, -1.0]]))  # W_hy
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    h_prev = torch.tensor([[0.3, -0.4]], dtype=torch.float64)
    h = cell(x, h_prev)
    # row 0: 0.5*1 - 1*2 + 1*0.3 + 0*(-0.4) + 0.1 = -1.1 ; row 1: 2*1 + 0.5*0.3 - 0.5*(-0.4) - 0.2 = 2.15
    expected = torch.tensor([[math.tanh(-1.1), math.tanh(2.15)]], dtype=torch.float64)
    assert torch.allclose(h, expected, atol=1e-12)
    y = cell.output(h)
    assert torch.allclose(y, torch.tensor([[3.0 * math.tanh(-1.1) - math.tanh(2.15)]], dtype=torch.float64))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_vanilla_cell_equals_formula(activation, bias):
    torch.manual_seed(0)
    cell = VanillaRNNCell(5, 4, activation=activation, bias=bias, bias_init="uniform", output_size=3).double()
    x = torch.randn(6, 5, dtype=torch.float64)
    h_prev = torch.randn(6, 4, dtype=torch.float64)
    pre_activation = x @ cell.weight_ih.T + h_prev @ cell.weight_hh.T  # W_xh x + W_hh h
    if bias:
        assert cell.bias_ih is not None and cell.bias_hh is not None
        assert cell.bias_ih.abs().sum() > 0
        pre_activation = pre_activation + cell.bias_ih + cell.bias_hh
    else:
        assert cell.bias_ih is None and cell.bias_hh is None
    expected = torch.tanh(pre_activation) if activation == "tanh" else pre_activation.clamp(min=0)
    h = cell(x, h_prev)
    assert torch.allclose(h, expected, atol=1e-12)
    assert torch.allclose(cell.output(h), h @ cell.weight_hy.T, atol=1e-12)
    if activation == "relu":
        assert (h == 0).any() and (h > 1).any()  # clipped below, unbounded above


def test_vanilla_cell_defaults_to_zero_state_and_needs_output_size_for_y():
    cell = VanillaRNNCell(3, 4)
    x = torch.randn(2, 3)
    assert torch.equal(cell(x), cell(x, torch.zeros(2, 4)))
    with pytest.raises(RuntimeError, match="output_size"):
        cell.output(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="activation"):
        VanillaRNNCell(3, 4, activation="sigmoid")


def test_vanilla_cell_matches_torch_rnn_cell():
    torch.manual_seed(1)
    ours = VanillaRNNCell(5, 4, activation="relu").double()
    theirs = torch.nn.RNNCell(5, 4, nonlinearity="relu").double()
    theirs.load_state_dict(ours.state_dict())
    x, h = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    assert torch.allclose(ours(x, h), theirs(x, h), atol=1e-12)


def test_gru_cell_matches_torch():
    torch.manual_seed(2)
    ours = GRUCell(5, 4, bias_init="uniform").double()
    theirs = torch.nn.GRUCell(5, 4).double()
    theirs.load_state_dict(ours.state_dict())  # same names, shapes and gate order (r, z, n)
    x, h = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    assert torch.allclose(ours(x, h), theirs(x, h), atol=1e-12)


def test_lstm_cell_matches_torch():
    torch.manual_seed(3)
    ours = LSTMCell(5, 4, bias_init="uniform").double()
    theirs = torch.nn.LSTMCell(5, 4).double()
    theirs.load_state_dict(ours.state_dict())  # gate order (i, f, g, o)
    x = torch.randn(3, 5, dtype=torch.float64)
    state = (torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64))
    for ours_part, theirs_part in zip(ours(x, state), theirs(x, state)):
        assert torch.allclose(ours_part, theirs_part, atol=1e-12)
    zero_state = (torch.zeros(3, 4, dtype=torch.float64),) * 2
    assert all(torch.equal(a, b) for a, b in zip(ours(x), ours(x, zero_state)))


def test_recurrent_mask_only_scales_the_fed_back_state():
    torch.manual_seed(4)
    input_gates = torch.randn(2, 3)
    h = torch.randn(2, 3)
    weight_hh = torch.randn(3, 3)
    mask = torch.tensor([[2.0, 0.0, 2.0], [0.0, 2.0, 0.0]])
    (masked,) = rnn_recurrence(input_gates, (h,), weight_hh, None, recurrent_mask=mask)
    (by_hand,) = rnn_recurrence(input_gates, (h * mask,), weight_hh, None)
    assert torch.allclose(masked, by_hand)
    assert not torch.allclose(masked, rnn_recurrence(input_gates, (h,), weight_hh, None)[0])
