"""RecurrentCore: step equals forward, the batch-first state convention, learned initial state."""

import pytest
import torch

from multimodal_rnn.config import config_from_dict, config_to_dict
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.recurrent import CoreConfig, RecurrentCore


def make_core(cell, num_layers=2, path="auto", **options):
    torch.manual_seed(0)
    config = CoreConfig(cell=cell, input_size=3, hidden_size=5, num_layers=num_layers, path=path, **options)
    return RecurrentCore(config).double()


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_step_equals_forward_on_one_step(cell, num_layers):
    core = make_core(cell, num_layers, bias_init="uniform")
    x = torch.randn(4, 1, 3, dtype=torch.float64)
    state = tuple(torch.randn(4, num_layers, 5, dtype=torch.float64) for _ in core.state_size)
    outputs, forward_state = core(x, state=state)
    h, step_state = core.step(x[:, 0], state)
    assert torch.allclose(h, outputs[:, 0], atol=1e-12)
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(step_state, forward_state))


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("path", ["fused", "loop"])
def test_loop_of_steps_equals_forward(cell, path):
    core = make_core(cell, path=path)
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    outputs, final_state = core(x)
    state = core.init_state(4)
    for t in range(6):
        h, state = core.step(x[:, t], state)
        assert torch.allclose(h, outputs[:, t], atol=1e-12)
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(state, final_state))


def test_forward_with_lengths_ends_at_each_last_real_step():
    core = make_core("lstm")
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    lengths = torch.tensor([5, 2, 3])
    outputs, (h_final, c_final) = core(x, lengths=lengths)
    for b, length in enumerate(lengths.tolist()):
        state = core.init_state(1)
        for t in range(length):
            h, state = core.step(x[b : b + 1, t], state)
        assert torch.allclose(outputs[b, length - 1], h[0], atol=1e-12)
        assert torch.allclose(h_final[b], state[0][0], atol=1e-12)
        assert torch.allclose(c_final[b], state[1][0], atol=1e-12)
        assert torch.all(outputs[b, length:] == 0)


@pytest.mark.parametrize("cell, count", [("rnn", 1), ("gru", 1), ("lstm", 2)])
def test_state_convention_is_batch_first(cell, count):
    core = make_core(cell, num_layers=3)
    assert core.hidden_size == 5 and core.num_layers == 3
    assert core.state_size == ((3, 5),) * count
    zeros = core.init_state(4)
    assert isinstance(zeros, tuple) and len(zeros) == count
    assert all(s.shape == (4, 3, 5) and s.dtype == torch.float64 and torch.all(s == 0) for s in zeros)
    outputs, state = core(torch.randn(4, 6, 3, dtype=torch.float64))
    assert outputs.shape == (4, 6, 5)
    assert all(s.shape == (4, 3, 5) for s in state)
    # reordering the batch of a state reorders the outputs of the next step (beam search relies on it)
    order = torch.tensor([2, 0, 3, 1])
    x_t = torch.randn(4, 3, dtype=torch.float64)
    h, _ = core.step(x_t, state)
    h_reordered, _ = core.step(x_t[order], tuple(s.index_select(0, order) for s in state))
    assert torch.allclose(h_reordered, h[order], atol=1e-12)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_init_state_from_context(cell):
    core = make_core(cell, context_size=7)
    context = torch.randn(4, 7, dtype=torch.float64)
    state = core.init_state(4, context)
    for projection, s in zip(core.context_to_state, state):
        expected = torch.tanh(context @ projection.weight.T + projection.bias).view(4, 2, 5)
        assert torch.allclose(s, expected, atol=1e-12)
    if cell == "lstm":
        assert not torch.allclose(state[0], state[1])  # c0 has its own projection
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    outputs, _ = core(x, state=state)
    assert not torch.allclose(outputs, core(x)[0])
    outputs.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in core.context_to_state.parameters())


def test_init_state_errors():
    with pytest.raises(ConfigError, match="context_size"):
        make_core("gru").init_state(4, torch.randn(4, 7, dtype=torch.float64))
    with pytest.raises(InputError, match=r"\(4, 7\)"):
        make_core("gru", context_size=7).init_state(4, torch.randn(4, 6, dtype=torch.float64))


def test_core_config_validation_and_round_trip():
    config = CoreConfig(cell="gru", input_size=3, hidden_size=5, context_size=7, dropout=0.1)
    assert config_from_dict(CoreConfig, config_to_dict(config)) == config
    assert config.layer_config().return_sequences and not config.layer_config().bidirectional
    with pytest.raises(ConfigError, match="context_size"):
        CoreConfig(input_size=3, hidden_size=5, context_size=0)
    with pytest.raises(ConfigError, match="CoreConfig.hidden_size"):
        CoreConfig(input_size=3, hidden_size=-1)
    with pytest.raises(ConfigError, match="bidirectional"):
        config_from_dict(CoreConfig, {"input_size": 3, "hidden_size": 5, "bidirectional": True})
