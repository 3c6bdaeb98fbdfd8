"""Questions at the command line (``mmrnn ask``, ``mmrnn chat``) and at the server: one word rule
(:func:`multimodal_rnn.text.vocab.words`), one strict UTF-8 reading of standard input, and
``chat``'s history bounded like the server's."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pytest

from apps.cli import main
from multimodal_rnn.errors import InputError
from multimodal_rnn.tasks.dialog import cli_tools
from multimodal_rnn.tasks.dialog.predictor import DialogQuery, DialogSession, DialogTurn
from multimodal_rnn.tasks.protocol import FieldError, ServingLimits, check_text
from multimodal_rnn.tasks.text_input import check_question, read_stdin, stdin_lines
from multimodal_rnn.text.vocab import words

IMAGE = str(Path(__file__).parents[1] / "data" / "samples" / "shapes_test_1.png")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("?!?", []),
        ("? !", []),
        ("...", []),
        ("( ) [ ]", []),
        ("%", []),
        ("what?", ["what"]),
        ("(a)", ["a"]),
        ("3?", ["3"]),
        ("qué?", ["qué"]),
        ("is it red's", ["is", "it", "red", "'s"]),
    ],
)
def test_a_word_is_a_token_with_a_letter_or_a_digit(text: str, found: list[str]) -> None:
    assert words(text) == found


@pytest.mark.parametrize("text", ["?!?", "  ", "", "( )", "-- ..."])
def test_the_server_and_the_cli_refuse_a_question_without_words(text: str) -> None:
    with pytest.raises(FieldError, match=r"^question: empty \(no words\)$"):
        check_text(text, field="question", max_chars=500)
    with pytest.raises(InputError, match=r"^the question is empty \(no words\)$"):
        check_question(text)
    assert check_text("?!? a", field="question", max_chars=500) == check_question(" ?!? a\n") == "?!? a"


def test_stdin_is_strict_utf8_with_the_byte_position() -> None:
    with pytest.raises(InputError, match=r"^standard input: not UTF-8 text \(byte 13\)$"):
        read_stdin(io.TextIOWrapper(io.BytesIO(b"is it red?\nis\xff")))
    lines = stdin_lines(io.TextIOWrapper(io.BytesIO(b"is it red?\nis\xff\n")))
    assert next(lines) == "is it red?\n"
    with pytest.raises(InputError, match=r"^standard input: not UTF-8 text \(byte 13\)$"):
        next(lines)
    assert list(stdin_lines(io.StringIO("a\nb"))) == ["a\n", "b"]


def _run(
    argv: list[str], stdin: bytes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str], list[str]]:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err.splitlines()


def test_ask_and_chat_refuse_invalid_utf8_on_stdin_with_the_same_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(["ask", IMAGE, "-"], b"how many \xff shapes?", monkeypatch, capsys)
    assert (status, out, err) == (2, [], ["mmrnn: error: standard input: not UTF-8 text (byte 9)"])
    status, out, err = _run(
        ["chat", IMAGE], b"how many shapes are there?\nhow many \xff shapes?\n", monkeypatch, capsys
    )
    assert (status, err) == (2, ["mmrnn: error: standard input: not UTF-8 text (byte 36)"])
    assert out == ["one"]  # the answer before the bad line came as it was asked


def test_ask_and_chat_refuse_a_punctuation_only_question(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", IMAGE, "?!?"]) == 2
    assert capsys.readouterr().err.splitlines() == ["mmrnn: error: the question is empty (no words)"]
    status, out, err = _run(["ask", IMAGE, "-"], b" ?!? \n", monkeypatch, capsys)
    assert (status, out, err) == (2, [], ["mmrnn: error: the question is empty (no words)"])
    status, out, err = _run(
        ["chat", IMAGE], b"how many shapes are there?\n\n?!?\nis there a circle?\n", monkeypatch, capsys
    )
    assert (status, out, err) == (2, ["one"], ["mmrnn: error: line 3: the question is empty (no words)"])


class RecordingAgent:
    """A dialog agent that answers ``answer N`` and records the history every question came with."""

    def __init__(self) -> None:
        self.histories: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def transform(self, image: object) -> object:
        return image

    def session(self, image: object, caption: str = "", *, max_history_rounds: int) -> DialogSession:
        return DialogSession(self, image, caption, max_history_rounds=max_history_rounds)  # type: ignore[arg-type]

    def answer_last(self, dialogs: Sequence[DialogQuery], *, top: int, beam_size: int) -> list[DialogTurn]:
        (dialog,) = dialogs
        self.histories.append((dialog.questions[:-1], dialog.answers))
        answer = f"answer {len(self.histories)}"
        return [DialogTurn(dialog.questions[-1], answer, ((answer, 1.0),))]


def test_chat_keeps_the_servers_number_of_history_rounds() -> None:
    agent = RecordingAgent()
    output = io.StringIO()
    questions = "".join(f"question {n}\n" for n in range(1, 61))
    status = cli_tools.chat(
        agent,
        io.StringIO(questions),
        lambda line: print(line, file=output),  # type: ignore[arg-type]
        image_path=IMAGE,
        caption="a scene",
        as_json=False,
        top=1,
        beam_size=1,
        max_pixels=10**7,
    )
    bound = ServingLimits().max_history_rounds
    assert status == 0 and output.getvalue().splitlines() == [f"answer {n}" for n in range(1, 61)]
    assert [len(questions) for questions, _ in agent.histories] == [min(n, bound) for n in range(60)]
    last_questions, last_answers = agent.histories[-1]
    assert last_questions == tuple(f"question {n}" for n in range(60 - bound, 60))  # the latest rounds
    assert last_answers == tuple(f"answer {n}" for n in range(60 - bound, 60))
