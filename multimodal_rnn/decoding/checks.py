"""Argument checks shared by the decoding algorithms: a bad option is a one-line ConfigError."""

from __future__ import annotations

from multimodal_rnn.errors import ConfigError


def require(condition: bool, message: str) -> None:
    """Raise ``ConfigError(message)`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def check_eos(eos_id: int, vocab_size: int) -> None:
    """The end-of-sentence id must index the decoder's (R, V) log-probabilities."""
    require(0 <= eos_id < vocab_size, f"eos_id={eos_id} is outside the decoder vocabulary of size {vocab_size}")
