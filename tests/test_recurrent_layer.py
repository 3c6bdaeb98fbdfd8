"""RecurrentLayer: fused and loop paths agree, and every option does what it says."""

import dataclasses
import math

import pytest
import torch

from multimodal_rnn.config import config_from_dict, config_to_dict
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.recurrent import RecurrentConfig, RecurrentLayer, VanillaRNNCell

LENGTHS = torch.tensor([6, 2, 1, 4])


def make_pair(**options):
    """A fused and a loop layer (float64) holding identical parameters."""
    config = RecurrentConfig(input_size=3, hidden_size=5, path="fused", **options)
    fused = RecurrentLayer(config).double()
    loop = RecurrentLayer(dataclasses.replace(config, path="loop")).double()
    loop.load_state_dict(fused.state_dict())
    return fused, loop


def run_with_grads(layer, x, **kwargs):
    x = x.clone().requires_grad_(True)
    outputs, state = layer(x, **kwargs)
    loss = (outputs * torch.linspace(-1, 1, outputs.numel(), dtype=x.dtype).view_as(outputs)).sum()
    loss = loss + sum((s**2).sum() for s in state)
    layer.zero_grad()
    loss.backward()
    return outputs, state, x.grad, {name: p.grad.clone() for name, p in layer.named_parameters()}


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_fused_and_loop_agree_on_outputs_states_and_gradients(cell, num_layers, bidirectional, with_lengths):
    torch.manual_seed(0)
    fused, loop = make_pair(
        cell=cell, num_layers=num_layers, bidirectional=bidirectional, bias_init="uniform",
        return_sequences=True, return_state=True,
    )
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    kwargs = {"lengths": LENGTHS} if with_lengths else {}
    results_fused = run_with_grads(fused, x, **kwargs)
    results_loop = run_with_grads(loop, x, **kwargs)
    for a, b in zip(results_fused[:3], results_loop[:3]):
        a, b = (a, b) if isinstance(a, tuple) else ((a,), (b,))
        assert all(torch.allclose(p, q, atol=1e-10) for p, q in zip(a, b))
    assert results_fused[3].keys() == results_loop[3].keys()
    for name, grad in results_fused[3].items():
        assert torch.allclose(grad, results_loop[3][name], atol=1e-10), name


@pytest.mark.parametrize("options", [
    {"cell": "rnn", "activation": "relu", "go_backwards": True},
    {"cell": "lstm", "go_backwards": True, "bidirectional": True},
    {"cell": "gru", "bias": False, "num_layers": 2},
])
def test_paths_agree_with_options_and_initial_state(options):
    torch.manual_seed(1)
    fused, loop = make_pair(return_sequences=True, return_state=True, **options)
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    state = tuple(torch.randn_like(s) for s in fused.zero_state(4))
    out_fused, state_fused = fused(x, lengths=LENGTHS, state=state)
    out_loop, state_loop = loop(x, lengths=LENGTHS, state=state)
    assert torch.allclose(out_fused, out_loop, atol=1e-10)
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(state_fused, state_loop))


def test_parameters_live_once_in_the_torch_module():
    layer = RecurrentLayer(RecurrentConfig(cell="lstm", input_size=3, hidden_size=5, num_layers=2, path="loop"))
    reference = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True)
    assert [n for n, _ in layer.named_parameters()] == ["rnn." + n for n, _ in reference.named_parameters()]
    layer(torch.randn(2, 4, 3)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())


@pytest.mark.parametrize("path", ["fused", "loop"])
def test_padding_is_ignored(path):
    torch.manual_seed(2)
    layer = RecurrentLayer(RecurrentConfig(
        cell="gru", input_size=3, hidden_size=5, num_layers=2, bidirectional=True,
        return_sequences=True, return_state=True, path=path,
    )).double()
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    x_noisy_padding = x.clone()
    for b, length in enumerate(LENGTHS.tolist()):
        x_noisy_padding[b, length:] = 100.0
    outputs, (h,) = layer(x_noisy_padding, lengths=LENGTHS)
    for b, length in enumerate(LENGTHS.tolist()):
        alone_outputs, (alone_h,) = layer(x[b : b + 1, :length])
        assert torch.allclose(outputs[b, :length], alone_outputs[0], atol=1e-10)
        assert torch.all(outputs[b, length:] == 0)
        assert torch.allclose(h[b], alone_h[0], atol=1e-10)


def test_mask_and_lengths_agree_and_bad_masks_are_refused():
    layer = RecurrentLayer(RecurrentConfig(cell="lstm", input_size=3, hidden_size=5, return_state=True))
    x = torch.randn(4, 6, 3)
    mask = torch.arange(6) < LENGTHS[:, None]
    last_by_mask, state_by_mask = layer(x, mask=mask)
    last_by_lengths, state_by_lengths = layer(x, lengths=LENGTHS)
    assert torch.equal(last_by_mask, last_by_lengths)
    assert all(torch.equal(a, b) for a, b in zip(state_by_mask, state_by_lengths))
    holed = mask.clone()
    holed[0, 2] = False
    with pytest.raises(InputError, match="prefix"):
        layer(x, mask=holed)
    with pytest.raises(InputError, match="not both"):
        layer(x, lengths=LENGTHS, mask=mask)
    with pytest.raises(InputError, match="1..6"):
        layer(x, lengths=torch.tensor([6, 0, 1, 4]))
    with pytest.raises(InputError, match="lengths"):
        layer(x, lengths=torch.tensor([6.0, 2.0, 1.0, 4.0]))
    with pytest.raises(InputError, match=r"\(B, T, 3\)"):
        layer(torch.randn(4, 6, 2))


@pytest.mark.parametrize("path", ["fused", "loop"])
def test_go_backwards_reverses_each_sequence_and_keeps_reversed_order(path):
    torch.manual_seed(3)
    forward_layer = RecurrentLayer(RecurrentConfig(
        input_size=3, hidden_size=5, return_sequences=True, return_state=True, path=path,
    )).double()
    backward_layer = RecurrentLayer(dataclasses.replace(forward_layer.config, go_backwards=True)).double()
    backward_layer.load_state_dict(forward_layer.state_dict())
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    outputs, (h,) = backward_layer(x, lengths=LENGTHS)
    assert not torch.allclose(outputs, forward_layer(x, lengths=LENGTHS)[0])
    for b, length in enumerate(LENGTHS.tolist()):
        reversed_outputs, (reversed_h,) = forward_layer(x[b : b + 1, :length].flip(1))
        # outputs[:, 0] is the step that read the last real input x[length - 1]
        assert torch.allclose(outputs[b, :length], reversed_outputs[0], atol=1e-10)
        assert torch.all(outputs[b, length:] == 0)
        assert torch.allclose(h[b], reversed_h[0], atol=1e-10)


@pytest.mark.parametrize("path", ["fused", "loop"])
def test_stateful_carries_state_until_reset(path):
    torch.manual_seed(4)
    config = RecurrentConfig(cell="lstm", input_size=3, hidden_size=5, return_sequences=True, path=path)
    plain = RecurrentLayer(config)
    stateful = RecurrentLayer(dataclasses.replace(config, stateful=True))
    stateful.load_state_dict(plain.state_dict())
    x = torch.randn(2, 8, 3)
    whole = plain(x)
    first, second = stateful(x[:, :4]), stateful(x[:, 4:])
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)
    assert stateful.carried_state is not None and not stateful.carried_state[0].requires_grad
    with pytest.raises(InputError, match="reset_states"):
        stateful(torch.randn(3, 4, 3))
    stateful.reset_states()
    assert stateful.carried_state is None
    assert torch.allclose(stateful(x[:, 4:]), plain(x[:, 4:]), atol=1e-6)
    explicit = plain.zero_state(2)
    assert torch.allclose(stateful(x[:, 4:], state=explicit), plain(x[:, 4:]), atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
def test_return_sequences_and_return_state_shapes(bidirectional, return_sequences, return_state):
    layer = RecurrentLayer(RecurrentConfig(
        cell="lstm", input_size=3, hidden_size=5, num_layers=2, bidirectional=bidirectional,
        return_sequences=return_sequences, return_state=return_state,
    ))
    result = layer(torch.randn(4, 6, 3), lengths=LENGTHS)
    directions = 2 if bidirectional else 1
    outputs, state = result if return_state else (result, None)
    expected = (4, 6, 5 * directions) if return_sequences else (4, 5 * directions)
    assert outputs.shape == expected
    if return_state:
        assert isinstance(state, tuple) and len(state) == 2
        assert all(s.shape == (4, 2 * directions, 5) for s in state)


def test_last_output_is_the_last_real_step_of_each_direction():
    torch.manual_seed(5)
    config = RecurrentConfig(cell="gru", input_size=3, hidden_size=5, bidirectional=True, return_sequences=True)
    layer = RecurrentLayer(config)
    last_layer = RecurrentLayer(dataclasses.replace(config, return_sequences=False))
    last_layer.load_state_dict(layer.state_dict())
    x = torch.randn(4, 6, 3)
    outputs, last = layer(x, lengths=LENGTHS), last_layer(x, lengths=LENGTHS)
    for b, length in enumerate(LENGTHS.tolist()):
        assert torch.allclose(last[b, :5], outputs[b, length - 1, :5])  # forward read everything at length-1
        assert torch.allclose(last[b, 5:], outputs[b, 0, 5:])  # backward read everything at 0


@pytest.mark.parametrize("path", ["fused", "loop"])
def test_dropout_only_in_training(path):
    torch.manual_seed(6)
    config = RecurrentConfig(cell="gru", input_size=3, hidden_size=5, num_layers=2, return_sequences=True, path=path)
    dropped = RecurrentLayer(dataclasses.replace(config, dropout=0.5))
    clean = RecurrentLayer(config)
    clean.load_state_dict(dropped.state_dict())
    x = torch.randn(4, 6, 3)
    dropped.eval()
    assert torch.equal(dropped(x), clean(x))
    dropped.train()
    first, second = dropped(x), dropped(x)
    assert not torch.allclose(first, clean(x)) and not torch.allclose(first, second)
    # zero inputs are immune to dropout, so any randomness now comes from the second layer's inputs
    with torch.no_grad():
        dropped.rnn.bias_ih_l0.fill_(0.5)
    zeros = torch.zeros(4, 6, 3)
    assert not torch.allclose(dropped(zeros), dropped(zeros))


def test_recurrent_dropout_uses_one_mask_for_all_steps():
    # h_t = relu(I (m * h_{t-1})) with no input: each unit is either dropped from step 0 on
    # (one mask) or scaled by 1/(1-p) at every step. A fresh mask per step would drop more units
    # as time goes on.
    p, hidden_size, steps = 0.5, 64, 10
    layer = RecurrentLayer(RecurrentConfig(
        input_size=1, hidden_size=hidden_size, activation="relu", bias=False,
        recurrent_dropout=p, return_sequences=True,
    ))
    with torch.no_grad():
        layer.rnn.weight_ih_l0.zero_()
        layer.rnn.weight_hh_l0.copy_(torch.eye(hidden_size))
    x = torch.zeros(3, steps, 1)
    h0 = (torch.ones(3, 1, hidden_size),)
    torch.manual_seed(7)
    assert layer.uses_loop()
    outputs = layer(x, state=h0)  # (3, T, H)
    kept = outputs[:, 0] != 0  # (3, H)
    assert 0 < kept.sum() < kept.numel()
    for t in range(steps):
        expected = kept * (1.0 / (1.0 - p)) ** (t + 1)
        assert torch.allclose(outputs[:, t], expected.float())
    assert not torch.equal(kept[0], kept[1])  # one mask per sequence, not per batch
    layer.eval()
    assert not layer.uses_loop()
    assert torch.equal(layer(x, state=h0), torch.ones(3, steps, hidden_size))


def test_relu_activation_matches_the_vanilla_cell_loop():
    torch.manual_seed(8)
    layer = RecurrentLayer(RecurrentConfig(
        input_size=3, hidden_size=5, activation="relu", bias_init="uniform", return_sequences=True,
    )).double()
    cell = VanillaRNNCell(3, 5, activation="relu").double()
    cell.load_state_dict({name.removesuffix("_l0"): p for name, p in layer.rnn.state_dict().items()})
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    h = torch.zeros(2, 5, dtype=torch.float64)
    outputs = layer(x)
    for t in range(6):
        h = cell(x[:, t], h)
        assert torch.allclose(outputs[:, t], h, atol=1e-12)
    assert (outputs == 0).any() and (outputs >= 0).all()


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_default_initializers(cell):
    torch.manual_seed(9)
    input_size, hidden_size = 7, 16
    layer = RecurrentLayer(RecurrentConfig(cell=cell, input_size=input_size, hidden_size=hidden_size, num_layers=2))
    bound = {0: math.sqrt(6 / (input_size + hidden_size)), 1: math.sqrt(6 / (2 * hidden_size))}
    for name, p in layer.rnn.named_parameters():
        if name.startswith("weight_hh"):
            for block in p.split(hidden_size):  # each gate block is orthogonal
                assert torch.allclose(block @ block.T, torch.eye(hidden_size), atol=1e-5)
        elif name.startswith("weight_ih"):
            limit = bound[int(name[-1])]
            assert p.abs().max() <= limit and p.abs().max() > 0.9 * limit
        else:
            assert torch.all(p == 0)


def test_other_initializers():
    torch.manual_seed(10)
    layer = RecurrentLayer(RecurrentConfig(
        cell="lstm", input_size=64, hidden_size=64, kernel_init="orthogonal",
        recurrent_init="xavier_normal", bias_init="uniform",
    ))
    weight_ih, weight_hh = layer.rnn.weight_ih_l0, layer.rnn.weight_hh_l0
    assert torch.allclose(weight_ih[:64] @ weight_ih[:64].T, torch.eye(64), atol=1e-5)
    assert not torch.allclose(weight_hh[:64] @ weight_hh[:64].T, torch.eye(64), atol=0.1)
    assert abs(weight_hh.std().item() - math.sqrt(2 / 128)) < 0.01
    assert 0.1 < layer.rnn.bias_ih_l0.abs().max() <= 1 / 8


@pytest.mark.parametrize("bad", [
    {"cell": "transformer"}, {"hidden_size": 0}, {"num_layers": True}, {"activation": "sigmoid"},
    {"cell": "gru", "activation": "relu"}, {"kernel_init": "he"}, {"bias_init": "ones"},
    {"dropout": 1.0}, {"recurrent_dropout": -0.1}, {"path": "cudnn"},
    {"path": "fused", "recurrent_dropout": 0.2},
])
def test_config_validation(bad):
    with pytest.raises(ConfigError, match="RecurrentConfig"):
        RecurrentConfig(**{"input_size": 3, "hidden_size": 5, **bad})


def test_config_round_trips_through_json_data():
    config = RecurrentConfig(cell="gru", input_size=3, hidden_size=5, dropout=0.25, bidirectional=True)
    assert config_from_dict(RecurrentConfig, config_to_dict(config)) == config
    with pytest.raises(ConfigError, match="activation"):
        config_from_dict(RecurrentConfig, {"cell": "lstm", "input_size": 3, "hidden_size": 5, "activation": "relu"})


def test_step_needs_a_unidirectional_layer_and_a_valid_state():
    layer = RecurrentLayer(RecurrentConfig(input_size=3, hidden_size=5, bidirectional=True))
    with pytest.raises(ConfigError, match="unidirectional"):
        layer.step(torch.randn(2, 3))
    layer = RecurrentLayer(RecurrentConfig(cell="lstm", input_size=3, hidden_size=5))
    with pytest.raises(InputError, match="state"):
        layer.step(torch.randn(2, 3), (torch.zeros(2, 1, 5),))
