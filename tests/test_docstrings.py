"""Every example in a docstring runs: the API reference pages show them, so they are tested like the docs.

Each module of ``retainlib`` and of the plugins in this repository is a test; its
docstring examples run with :mod:`doctest` (``+SKIP`` examples are skipped, as
pytest's ``--doctest-modules`` would).
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The importable packages' folders: the core and one per plugin folder.
PACKAGES = [
    ROOT / "src" / "retainlib",
    *sorted(
        child
        for plugin in (ROOT / "plugins").iterdir()
        if (plugin / "src").is_dir()
        for child in (plugin / "src").iterdir()
        if (child / "__init__.py").is_file()
    ),
]


def _modules() -> list[str]:
    """Every module's dotted name, found on disk (nothing is imported while tests are collected)."""
    names: list[str] = []
    for package in PACKAGES:
        for path in package.rglob("*.py"):
            parts = path.relative_to(package.parent).with_suffix("").parts
            if parts[-1] == "__main__":
                continue
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def test_the_packages_are_found() -> None:
    names = {package.name for package in PACKAGES}
    assert {"retainlib", "retainlib_stripe", "retainlib_shopify"} <= names
    assert len(names) >= 9


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} docstring examples in {name} failed"
