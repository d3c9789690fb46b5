"""The examples of ``docs/sources/hubspot.md`` and ``docs/sources/salesforce.md`` run as written."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[3] / "docs" / "sources"


@pytest.mark.parametrize(("page", "file"), [("hubspot.md", "deals.csv"), ("salesforce.md", "opportunities.csv")])
def test_the_docs_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str, file: str) -> None:
    path = DOCS / page
    text = path.read_text(encoding="utf-8")
    example = text.split("```csv\n", 1)[1].split("```", 1)[0]
    session = text.split("```pycon\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / file).write_text(example, encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(session, {}, page, str(path), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert runner.summarize(verbose=False).attempted >= 5
