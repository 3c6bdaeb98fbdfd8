"""``weights/README.md`` made from the model cards: ``python -m apps.weights_readme [--check]``.

Every shipped file (each task's ``shipped`` mapping, in :data:`multimodal_rnn.tasks.TASKS`
order) gets a section: its card's facts as a table, its evaluations as a table of metrics, and
the markdown of its ``<stem>.notes.md`` if it has one (see :mod:`multimodal_rnn.shipped`). Edit
the cards and notes, never the README; ``--check`` exits 1 when the README is out of date.
Installed, the module is ``multimodal_rnn.apps.weights_readme``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from multimodal_rnn.errors import DataFormatError
from multimodal_rnn.files import atomic_write
from multimodal_rnn.shipped import notes_path, read_card, weights_dir

INTRO = """\
# Shipped weights (model cards)

Small checkpoints that make every command work offline on a fresh machine. Each file is one
`.safetensors` checkpoint whose JSON header carries the task, model name, config, vocabulary,
training step, validation metrics, package version and git commit
(`python -c "from multimodal_rnn.checkpoint import read_header; print(read_header('weights/FILE'))"`).
All were trained on the synthetic shapes world or on BabyAI levels, so they describe shapes
scenes, not photographs. Re-running a command gives a model of the same quality, not the same
bytes: float results depend on the number of threads and, for files trained before the trainer
kept convolution weights channels_last (caption, dialog and navigation), on that memory layout.

Each file's card is data: `FILE.card.json` next to it (sha256, size, task, model, data and seed,
training command and time, test metrics with split and count), served by `GET /v1/models`.
This page is generated from the cards and the `FILE.notes.md` beside them by
`python -m apps.weights_readme` (installed: `python -m multimodal_rnn.apps.weights_readme`);
edit those, not this page.
"""


def shipped_files() -> Iterator[tuple[str, str, str]]:
    """``(task, variant, file name)`` of every shipped file, in task order."""
    from multimodal_rnn.tasks import TASKS

    for task in TASKS.values():
        for variant, name in task.shipped.items():
            yield task.name, variant, name


def _cell(value: Any) -> str:
    return "—" if value is None else str(value).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`"


def _card_table(card: dict[str, Any]) -> list[str]:
    model, data, training = card["model"], card["data"], card["training"]
    rows = [
        ("task", f"`{card['task']}` (variant `{card['variant']}`)"),
        ("model", f"`{model['name']}` ({model['description']})"),
        ("data", f"{data['name']}, seed {data['seed']}: {data['description']}; {_code(data['command'])}"),
        ("command", f"{_code(training['command'])}, then {_code(training['install'])}"),
        ("settings", training.get("settings")),
        ("selected checkpoint", training.get("selected")),
        ("training time", training.get("time")),
        ("size", f"{card['size_bytes']:,} bytes"),
        ("sha256", _code(card["sha256"])),
    ]
    return ["| field | value |", "|---|---|", *(f"| {name} | {_cell(value)} |" for name, value in rows if value)]


def _evaluation_table(evaluations: Sequence[dict[str, Any]]) -> list[str]:
    metrics: list[str] = []
    for evaluation in evaluations:
        metrics += [name for name in evaluation["metrics"] if name not in metrics]
    lines = ["| split | n | settings | " + " | ".join(metrics) + " |", "|---" * (3 + len(metrics)) + "|"]
    for e in evaluations:
        values = " | ".join(_cell(e["metrics"].get(name)) for name in metrics)
        lines.append(f"| {e['split']} | {e['count']:,} {e['unit']} | {_cell(e['settings'])} | {values} |")
    lines.append("")
    lines += [f"- {e['split']}: {_code(e['command'])}" for e in evaluations]
    return lines


def render_section(card: dict[str, Any], notes: str | None) -> str:
    """The README section of one card (and its notes markdown, if any)."""
    lines = [f"## `{card['file']}` — {card['title']}", "", *_card_table(card), ""]
    if card["evaluation"]:
        lines += ["Evaluation:", "", *_evaluation_table(card["evaluation"]), ""]
    if card["notes"]:
        lines += [card["notes"], ""]
    if notes:
        lines += [notes.strip(), ""]
    return "\n".join(lines)


def render_readme(directory: Path | None = None) -> str:
    """The README of the shipped weights in ``directory`` (default: :func:`weights_dir`)."""
    directory = directory or weights_dir()
    sections = [INTRO]
    for task, variant, name in shipped_files():
        card = read_card(directory / name)
        if card is None:
            raise DataFormatError(f"{directory / name}: shipped {task} weights ({variant}) have no model card")
        notes = notes_path(directory / name)
        sections.append(render_section(card, notes.read_text(encoding="utf-8") if notes.is_file() else None))
    return "\n".join(sections).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.weights_readme", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md differs from the cards")
    args = parser.parse_args(argv)
    readme = weights_dir() / "README.md"
    text = render_readme()
    if args.check:
        current = readme.read_text(encoding="utf-8") if readme.is_file() else ""
        if current != text:
            print(f"{readme} is out of date: run python -m apps.weights_readme", file=sys.stderr)
            return 1
        return 0
    atomic_write(readme, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
