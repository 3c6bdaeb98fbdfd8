"""Out-of-range option values, the option part of the bad-input corpus: each is refused when the
command line is parsed, before any file is read or model built, with one line naming the option
and exit status 2 (the ranges come from :mod:`multimodal_rnn.options`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import apps.cli
from apps.cli import build_parser, main
from multimodal_rnn import options

IMAGE = str(Path(__file__).parents[1] / "data" / "samples" / "shapes_test_1.png")

CAPTION = ["caption", IMAGE]
PREDICT_CAPTION = ["predict", "caption", "--images", "imgs", "--out", "r.json"]
PREDICT_VQA = ["predict", "vqa", "--out", "r.json"]
PREDICT_DIALOG = ["predict", "dialog", "--out", "r.json"]
ASK = ["ask", IMAGE, "what is it?"]
CHAT = ["chat", IMAGE]
DEMOS = ["data", "babyai-demos", "--level", "BabyAI-GoToRedBall-v0", "--out", "d.npz"]
TRAIN_CAPTION = ["train", "caption", "--out", "run"]
TRAIN_NAVIGATION = ["train", "navigation", "--demos", "d.npz", "--out", "run"]
SHAPES = ["data", "shapes", "--out", "world"]

BAD_VALUES: list[tuple[list[str], str, str]] = [
    # (command, option, value): the values the report found accepted or crashing first
    (CAPTION, "--beam", "1000000000"),
    (CAPTION, "--beam", "10000"),
    (CAPTION, "--beam", "51"),
    (CAPTION, "--beam", "0"),
    (CAPTION, "--beam", "2.5"),
    (CAPTION, "--max-length", "0"),
    (CAPTION, "--max-length", "201"),
    (CAPTION, "--length-penalty", "inf"),
    (CAPTION, "--length-penalty", "nan"),
    (CAPTION, "--max-pixels", "0"),
    (CAPTION, "--threads", "0"),
    (PREDICT_CAPTION, "--batch-size", "0"),
    (PREDICT_CAPTION, "--batch-size", "-1"),
    (PREDICT_CAPTION, "--max-bad-images", "-1"),
    (PREDICT_CAPTION, "--beam", "1000000000"),
    (PREDICT_CAPTION, "--workers", "-1"),
    (PREDICT_VQA, "--batch-size", "0"),
    (PREDICT_VQA, "--max-bad-images", "-1"),
    (PREDICT_DIALOG, "--batch-size", "-1"),
    (PREDICT_DIALOG, "--max-bad-images", "-1"),
    (ASK, "--top", "0"),
    (ASK, "--max-pixels", "-5"),
    (CHAT, "--top", "0"),
    (CHAT, "--beam-size", "0"),
    (CHAT, "--beam-size", "10000"),
    (["dialog-ablation"], "--batch-size", "0"),
    (["navigate", "--level", "BabyAI-GoToRedBall-v0"], "--episodes", "0"),
    (["navigate", "--level", "BabyAI-GoToRedBall-v0"], "--seed", "-1"),
    (["navigate", "--level", "BabyAI-GoToRedBall-v0"], "--batch-size", "0"),
    ([*DEMOS, "--episodes", "2"], "--seed", "-1"),
    ([*DEMOS, "--episodes", "2"], "--seed", "500000000"),
    ([*DEMOS, "--episodes", "2"], "--tile-size", "0"),
    ([*DEMOS, "--episodes", "2"], "--tile-size", "33"),
    ([*DEMOS, "--episodes", "2"], "--workers", "0"),
    (DEMOS, "--episodes", "0"),
    (DEMOS, "--episodes", "500000001"),
    (TRAIN_CAPTION, "--epochs", "0"),
    (TRAIN_CAPTION, "--batch-size", "0"),
    (TRAIN_CAPTION, "--lr", "0"),
    (TRAIN_CAPTION, "--lr", "nan"),
    (TRAIN_CAPTION, "--encoder-lr", "-1e-4"),
    (TRAIN_CAPTION, "--weight-decay", "-0.1"),
    (TRAIN_CAPTION, "--grad-clip", "0"),
    (TRAIN_CAPTION, "--grad-clip", "inf"),
    (TRAIN_CAPTION, "--warmup-steps", "-1"),
    (TRAIN_CAPTION, "--patience", "0"),
    (TRAIN_CAPTION, "--seed", "-1"),
    (TRAIN_CAPTION, "--max-steps", "0"),
    (TRAIN_CAPTION, "--log-every", "0"),
    (TRAIN_CAPTION, "--label-smoothing", "1.5"),
    (TRAIN_CAPTION, "--scheduled-sampling", "-0.1"),
    (TRAIN_CAPTION, "--eval-images", "-1"),
    (TRAIN_CAPTION, "--eval-beam", "0"),
    (TRAIN_CAPTION, "--eval-beam", "51"),
    (TRAIN_CAPTION, "--min-count", "0"),
    (TRAIN_CAPTION, "--scst-samples", "0"),
    (TRAIN_CAPTION, "--threads", "-2"),
    (["train", "vqa", "--out", "run"], "--answers", "0"),
    (["train", "vqa", "--out", "run"], "--eval-questions", "-1"),
    (["train", "dialog", "--out", "run"], "--min-count", "0"),
    (["train", "dialog", "--out", "run"], "--eval-dialogs", "-1"),
    (TRAIN_NAVIGATION, "--tbptt", "-1"),
    (TRAIN_NAVIGATION, "--entropy", "-0.5"),
    (TRAIN_NAVIGATION, "--entropy", "nan"),
    (TRAIN_NAVIGATION, "--val-episodes", "0"),
    (TRAIN_NAVIGATION, "--max-demos", "-1"),
    (SHAPES, "--seed", "-1"),
    (SHAPES, "--train", "-1"),
    (SHAPES, "--val", "-1"),
    (SHAPES, "--test", "-1"),
    (SHAPES, "--image-size", "31"),
    (SHAPES, "--image-size", "1025"),
    (SHAPES, "--min-objects", "0"),
    (SHAPES, "--max-objects", "5"),
    (SHAPES, "--max-objects", "9"),
]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """``main(argv)``'s exit status (argparse exits through SystemExit) and its stderr lines."""
    try:
        status = main(argv)
    except SystemExit as exit:
        status = exit.code if isinstance(exit.code, int) else 1
    return status, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(
    ("command", "option", "value"), BAD_VALUES, ids=lambda x: " ".join(x) if isinstance(x, list) else x
)
def test_an_out_of_range_value_is_one_line_naming_the_option(
    command: list[str],
    option: str,
    value: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    status, err = run_cli([*command, f"{option}={value}"], capsys)
    assert status == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"mmrnn: error: argument {option}: must be "), err[0]
    assert f"got {value!r}" in err[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # refused before any work


def test_the_caps_are_documented_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command, text in [
        (["caption"], f"1-{options.MAX_BEAM_SIZE}"),
        (["caption"], f"1-{options.MAX_DECODE_LENGTH}"),
        (["chat"], f"1-{options.MAX_BEAM_SIZE}"),
        (["predict", "caption"], f"1-{options.MAX_BEAM_SIZE}"),
        (["data", "babyai-demos"], "1-32"),
        (["data", "shapes"], "32-1024"),
    ]:
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert text in " ".join(capsys.readouterr().out.split()), (command, text)


def test_more_min_objects_than_max_objects_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(apps.cli, "COMMANDS", ("data",))
    status, err = run_cli(
        ["data", "shapes", "--out", str(tmp_path / "w"), "--min-objects", "3", "--max-objects", "2"], capsys
    )
    assert status == 2 and err == ["mmrnn: error: --min-objects 3 is more than --max-objects 2"]
    assert not (tmp_path / "w").exists()


def _commands(parser: argparse.ArgumentParser, path: list[str]) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(" ".join(path), parser)] if path else []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, [*path, name])
    return found


COMMANDS = _commands(build_parser(), [])


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_every_numeric_option_has_a_range_type(name: str) -> None:
    """A bare ``int`` or ``float`` accepts 0, negatives, nan and inf: every numeric option declares
    its range with a type from :mod:`multimodal_rnn.options`."""
    parser = dict(COMMANDS)[name]
    bare = [action.option_strings or action.dest for action in parser._actions if action.type in (int, float)]
    assert bare == [], f"mmrnn {name}: give {bare} a type from multimodal_rnn.options"
