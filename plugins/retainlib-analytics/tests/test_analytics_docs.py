"""The product-retention page's examples run as written: a GA4 export to a weekly retention triangle."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[3] / "docs" / "product-retention.md"
SOURCES = Path(__file__).resolve().parents[3] / "docs" / "sources"


def test_product_retention_page_runs() -> None:
    failures, attempted = doctest.testfile(
        str(PAGE), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE, report=True, verbose=False
    )
    assert attempted > 10
    assert failures == 0


@pytest.mark.parametrize("name", ["ga4", "mixpanel", "amplitude"])
def test_each_source_has_its_page(name: str) -> None:
    page = SOURCES / f"{name}.md"
    text = page.read_text()
    assert f"# The `{name}` source" in text
    for option in __import__("retainlib_analytics").__dict__[f"{name.upper()}_OPTIONS"]:
        assert f"`{option}`" in text, (name, option)
