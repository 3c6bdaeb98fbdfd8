"""The documentation cites only files the repository has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
# A repository path in backticks: a known top-level folder or file, then path characters (no
# placeholders such as <task>, no globs).
CITED_PATH = re.compile(
    r"`((?:multimodal_rnn|apps|tests|benchmarks|docs|weights|data|\.ci)/[\w./-]*"
    r"|[\w-]+\.(?:md|toml|ini|cfg)|\.importlinter)`"
)
CITED_DOC = re.compile(r"\b((?:docs/[\w-]+|[A-Z_]+)\.md)\b")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_cited_paths_exist(document: Path) -> None:
    missing = sorted(
        {path for path in CITED_PATH.findall(document.read_text(encoding="utf-8")) if not (ROOT / path).exists()}
    )
    assert not missing, f"{document.name} cites files the repository does not have: {', '.join(missing)}"


def test_docstrings_cite_documents_that_exist() -> None:
    missing = set()
    for source in sorted((ROOT / "multimodal_rnn").rglob("*.py")):
        for cited in CITED_DOC.findall(source.read_text(encoding="utf-8")):
            if not (ROOT / cited).exists():
                missing.add(f"{source.relative_to(ROOT)}: {cited}")
    assert not missing, "docstrings cite documents the repository does not have: " + "; ".join(sorted(missing))
