"""The option value types: ranges checked when the command line is parsed, one message form."""

import argparse

import pytest

from multimodal_rnn import options


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (options.positive_int, "3", 3),
        (options.non_negative_int, "0", 0),
        (options.beam_size, "50", 50),
        (options.decode_length, "1", 1),
        (options.finite_float, "-2.5", -2.5),
        (options.positive_float, "1e-4", 1e-4),
        (options.probability, "1", 1.0),
        (options.proper_fraction, "0.1", 0.1),
    ],
)
def test_values_in_range_parse(parse, text: str, value: float) -> None:
    assert parse(text) == value


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (options.positive_int, "0", "must be an integer >= 1, got '0'"),
        (options.positive_int, "-1", "must be an integer >= 1, got '-1'"),
        (options.positive_int, "2.5", "must be an integer >= 1, got '2.5'"),
        (options.non_negative_int, "-1", "must be an integer >= 0, got '-1'"),
        (options.beam_size, "1000000000", "must be an integer from 1 to 50, got '1000000000'"),
        (options.decode_length, "0", "must be an integer from 1 to 200, got '0'"),
        (options.finite_float, "inf", "must be a finite number, got 'inf'"),
        (options.finite_float, "nan", "must be a finite number, got 'nan'"),
        (options.positive_float, "0", "must be a number > 0, got '0'"),
        (options.non_negative_float, "-0.1", "must be a number >= 0, got '-0.1'"),
        (options.probability, "1.5", "must be a number from 0 to 1, got '1.5'"),
        (options.probability, "x", "must be a number from 0 to 1, got 'x'"),
        (options.proper_fraction, "1", "must be a number > 0 and < 1, got '1'"),
        (options.proper_fraction, "0", "must be a number > 0 and < 1, got '0'"),
    ],
)
def test_values_out_of_range_are_one_message(parse, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as error:
        parse(text)
    assert str(error.value) == message
