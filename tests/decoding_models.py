"""Tiny hand-built decoders for the decoding tests: pure step functions over fixed log-probability tables.

Each model follows the step() contract: ``start(items) -> (state, context)`` and
``step(tokens, state, context) -> (logprobs, state)``. The item a row decodes is static, so it
lives in the context; everything that changes with the fed tokens lives in the state.
"""

from __future__ import annotations

import itertools
import math

import torch

PAD, BOS, EOS = 0, 1, 2


def random_tables(shape: tuple[int, ...], seed: int, sharpness: float = 2.0) -> torch.Tensor:
    """Log-probability tables over the last dim, without ties."""
    generator = torch.Generator().manual_seed(seed)
    return torch.log_softmax(torch.randn(shape, generator=generator) * sharpness, dim=-1)


class BigramModel:
    """logprobs = table[item, fed token]; the context says which item's table a row uses.

    The state holds no tensor at all, only leaves that decoding must pass through untouched.
    """

    def __init__(self, tables: torch.Tensor) -> None:
        self.tables = tables  # (I, V, V)

    def start(self, items: list[int]) -> tuple[dict, dict]:
        return {"unused": None, "label": "bigram"}, {"item": torch.tensor(items)}

    def step(self, tokens: torch.Tensor, state: dict, context: dict) -> tuple[torch.Tensor, dict]:
        return self.tables[context["item"], tokens], state


class TrigramModel:
    """logprobs = table[item, token before, fed token]: wrong state reordering changes the scores.

    The state also keeps a history buffer of the fed tokens, a step counter and an "attention"
    vector (one-hot of the fed token times the step number) to check recorded traces.
    """

    def __init__(self, tables: torch.Tensor, max_length: int) -> None:
        self.tables = tables  # (I, V, V, V)
        self.max_length = max_length

    def start(self, items: list[int]) -> tuple[dict, dict]:
        count = len(items)
        state = {
            "previous": torch.full((count,), BOS),
            "history": torch.full((count, self.max_length), PAD),
            "count": torch.zeros(count, dtype=torch.long),
        }
        return state, {"item": torch.tensor(items)}

    def step(self, tokens: torch.Tensor, state: dict, context: dict) -> tuple[torch.Tensor, dict]:
        logprobs = self.tables[context["item"], state["previous"], tokens]
        vocab_size = self.tables.size(-1)
        count = state["count"]
        new_state = {
            "previous": tokens,
            "history": state["history"].scatter(1, count[:, None], tokens[:, None]),
            "count": count + 1,
            "attention": torch.nn.functional.one_hot(tokens, vocab_size).float() * (count + 1)[:, None],
        }
        return logprobs, new_state


def table_step(rows: dict[int, list[float]], vocab_size: int):
    """A bigram step from a hand-written table {fed token: probabilities}; missing rows are uniform."""
    table = torch.full((vocab_size, vocab_size), -math.log(vocab_size))
    for fed, probs in rows.items():
        table[fed] = torch.tensor(probs).log()
    return lambda tokens, state, context: (table[tokens], state)


def brute_force(
    model, item: int, vocab_size: int, max_length: int, alpha: float = 0.0
) -> list[tuple[float, list[int]]]:
    """Every hypothesis of ``item`` with its score, best first, by running all token strings."""
    strings = torch.tensor(list(itertools.product(range(vocab_size), repeat=max_length)))  # (S, L)
    state, context = model.start([item] * len(strings))
    fed = torch.full((len(strings),), BOS)
    logprobs = []
    for t in range(max_length):
        step_logprobs, state = model.step(fed, state, context)
        logprobs.append(step_logprobs.gather(1, strings[:, t : t + 1]).squeeze(1))
        fed = strings[:, t]
    logprobs = torch.stack(logprobs, dim=1).tolist()
    hypotheses = {}
    for string, string_logprobs in zip(strings.tolist(), logprobs):
        length = string.index(EOS) + 1 if EOS in string else max_length
        raw = sum(string_logprobs[:length])
        words = tuple(string[: length - 1] if EOS in string else string)
        hypotheses[words] = raw / ((5 + length) / 6) ** alpha
    return sorted(((score, list(words)) for words, score in hypotheses.items()), reverse=True)


def has_repeated_trigram(sequence: list[int]) -> bool:
    trigrams = [tuple(sequence[i : i + 3]) for i in range(len(sequence) - 2)]
    return len(trigrams) != len(set(trigrams))
