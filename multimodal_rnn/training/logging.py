"""The run's metrics log: one JSON object per line in ``metrics.jsonl``, optionally mirrored to TensorBoard.

Line kinds written by the trainer:

* training: ``{"step", "epoch", "loss", "lr", ["encoder_lr"], ["grad_norm"], "time"}``; ``loss`` is
  the mean training loss since the previous training line, ``lr`` the rate of the last update,
  ``grad_norm`` the total gradient norm before clipping (only when clipping), ``time`` Unix seconds;
* evaluation: ``{"step", "epoch", "eval": {name: value}, "best": bool, "time"}``, with ``"at_stop": true``
  for the evaluation of a run that ``max_steps`` stopped (not part of the resumable state).

``epoch`` is 0-based. On resume the lines after the resumed step are dropped
(:func:`truncate_metrics`), and so are ``at_stop`` evaluations, so the log of an interrupted and
resumed run reads like an uninterrupted one. A failed write (e.g. a full disk) raises an
``OSError`` that names the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from multimodal_rnn.checkpoint import atomic_write
from multimodal_rnn.errors import ConfigError, InputError

CONFIG_FILE = "config.json"
"""The run folder's record of the trainer config and the facts of the run."""
METRICS_FILE = "metrics.jsonl"


def require_tensorboard() -> None:
    """Raise ConfigError if ``torch.utils.tensorboard`` cannot be used (the ``tensorboard`` package is missing)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise ConfigError(
            "tensorboard=True but the 'tensorboard' package is not installed (pip install tensorboard)"
        ) from None


class MetricsLog:
    """Append-only JSONL metrics file (flushed per line) with an optional TensorBoard mirror.

    Args:
        path: the ``metrics.jsonl`` file (created with its folder if missing; appended to otherwise).
        tensorboard_dir: if given, scalars are also written there with ``SummaryWriter``: training
            lines as ``train/<key>``, evaluation metrics as ``eval/<name>``, at their ``step``.
    """

    def __init__(self, path: str | os.PathLike[str], *, tensorboard_dir: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        self._writer = None
        if tensorboard_dir is not None:
            require_tensorboard()
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(tensorboard_dir))

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record (a JSON object with a ``step``) and mirror its numbers to TensorBoard."""
        try:
            self._file.write(json.dumps(dict(record)) + "\n")
            self._file.flush()
        except OSError as exc:
            raise _named(exc, self.path) from None
        if self._writer is None:
            return
        step = int(record["step"])
        if "eval" in record:
            for name, value in record["eval"].items():
                self._writer.add_scalar(f"eval/{name}", value, step)
        else:
            for name, value in record.items():
                if name not in ("step", "epoch", "time") and isinstance(value, (int, float)):
                    self._writer.add_scalar(f"train/{name}", value, step)
        self._writer.flush()

    def close(self) -> None:
        """Close the file and the TensorBoard writer."""
        try:
            self._file.close()
        except OSError as exc:  # flushing what a full disk refused
            raise _named(exc, self.path) from None
        if self._writer is not None:
            self._writer.close()


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of a metrics log; a line that is not a JSON object is an InputError naming the line."""
    path = Path(path)
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
            if not isinstance(record, dict):
                raise InputError(f"{path}:{number}: expected a JSON object")
            records.append(record)
    return records


def truncate_metrics(path: str | os.PathLike[str], last_step: int) -> None:
    """Atomically drop the lines whose ``step`` is after ``last_step`` (a missing file is left missing).

    A torn last line (the process died while writing it) is dropped too.
    """
    path = Path(path)
    if not path.exists():
        return
    kept = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and int(record.get("step", 0)) <= last_step and not record.get("at_stop"):
                kept.append(line if line.endswith("\n") else line + "\n")

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as out:
            out.writelines(kept)

    atomic_write(path, write)


def open_run_log(
    out_dir: Path, trainer_config: Mapping[str, Any], facts: Mapping[str, Any], step: int, tensorboard: bool
) -> MetricsLog:
    """Open the metrics log of the run folder ``out_dir`` at update ``step`` (0, or where a resume starts).

    Writes ``config.json`` (``{"trainer": trainer_config, "run": facts}``), drops the lines of
    ``metrics.jsonl`` after ``step`` and opens it, with a ``tensorboard/`` mirror if asked for.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"trainer": dict(trainer_config), "run": dict(facts)}, indent=2) + "\n"

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    atomic_write(out_dir / CONFIG_FILE, write)
    truncate_metrics(out_dir / METRICS_FILE, step)
    return MetricsLog(out_dir / METRICS_FILE, tensorboard_dir=out_dir / "tensorboard" if tensorboard else None)


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` with ``path`` as its file name (a failed write on an open file has none)."""
    return OSError(exc.errno, exc.strerror or str(exc), str(path)) if exc.filename is None else exc
