"""AdditiveAttention: the formula, the mask, the gate and precomputed feature projections."""

import pytest
import torch

from multimodal_rnn.errors import InputError
from multimodal_rnn.recurrent import AdditiveAttention


def make_inputs(batch_size=3, positions=6, feature_size=4, query_size=5):
    torch.manual_seed(0)
    features = torch.randn(batch_size, positions, feature_size, dtype=torch.float64)
    query = torch.randn(batch_size, query_size, dtype=torch.float64)
    return features, query


def make_attention(gated=False):
    torch.manual_seed(1)
    return AdditiveAttention(query_size=5, feature_size=4, attention_size=8, gated=gated).double()


def test_weights_and_context_follow_the_formula():
    attention = make_attention()
    features, query = make_inputs()
    context, weights = attention(features, query)
    assert context.shape == (3, 4) and weights.shape == (3, 6)
    projected = features @ attention.feature_projection.weight.T + attention.feature_projection.bias  # W_f f
    hidden = torch.tanh(projected + (query @ attention.query_projection.weight.T)[:, None, :])
    scores = (hidden @ attention.score.weight.T).squeeze(2)  # e_i = w^T tanh(...)
    expected_weights = torch.exp(scores) / torch.exp(scores).sum(dim=1, keepdim=True)
    assert torch.allclose(weights, expected_weights, atol=1e-12)
    assert torch.allclose(weights.sum(dim=1), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(context, (weights[:, :, None] * features).sum(dim=1), atol=1e-12)


def test_mask_excludes_positions():
    attention = make_attention()
    features, query = make_inputs()
    mask = torch.tensor([[True] * 6, [True, True, False, False, False, False], [False] * 5 + [True]])
    context, weights = attention(features, query, mask=mask)
    assert torch.all(weights[~mask] == 0)
    assert torch.allclose(weights.sum(dim=1), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(context[2], features[2, 5])  # only one position left
    changed = features.clone()
    changed[~mask] = 1000.0
    context_changed, weights_changed = attention(changed, query, mask=mask)
    assert torch.allclose(context_changed, context) and torch.allclose(weights_changed, weights)
    # the unmasked weights of row 1 are the softmax of its first two scores alone
    _, weights_row = attention(features[1:2, :2], query[1:2])
    assert torch.allclose(weights[1, :2], weights_row[0], atol=1e-12)


def test_fully_masked_row_gives_zeros_not_nan():
    attention = make_attention()
    features, query = make_inputs()
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1] = False
    context, weights = attention(features, query, mask=mask)
    assert torch.all(weights[1] == 0) and torch.all(context[1] == 0)
    assert torch.isfinite(context).all()


def test_gate_scales_the_context():
    gated, plain = make_attention(gated=True), make_attention()
    gated.load_state_dict(plain.state_dict(), strict=False)  # same attention weights, plus a gate
    features, query = make_inputs()
    context_gated, weights_gated = gated(features, query)
    context_plain, weights_plain = plain(features, query)
    beta = torch.sigmoid(query @ gated.gate.weight.T + gated.gate.bias)  # (B, 1), one scalar per example
    assert torch.allclose(weights_gated, weights_plain)
    assert torch.allclose(context_gated, beta * context_plain, atol=1e-12)
    assert not torch.allclose(context_gated, context_plain)
    with torch.no_grad():
        gated.gate.bias.fill_(-50.0)
    assert gated(features, query)[0].abs().max() < 1e-15


def test_precomputed_projection_gives_the_same_result():
    attention = make_attention(gated=True)
    features, query = make_inputs()
    projected = attention.project_features(features)
    assert projected.shape == (3, 6, 8)
    direct = attention(features, query)
    reused = attention(features, query, projected_features=projected)
    assert all(torch.equal(a, b) for a, b in zip(direct, reused))


def test_bad_shapes_are_refused():
    attention = make_attention()
    features, query = make_inputs()
    with pytest.raises(InputError, match="query"):
        attention(features, query[:, :4])
    with pytest.raises(InputError, match="features"):
        attention(features[:, :, :3], query)
    with pytest.raises(InputError, match="mask"):
        attention(features, query, mask=torch.ones(3, 5, dtype=torch.bool))
