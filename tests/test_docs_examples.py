"""Every Python example in ``docs/`` runs, and prints what the page shows.

Each page's ``python``/``py``/``pycon`` code blocks run in page order, in one
fresh namespace per page, from a temporary working directory (so files the
examples write land there).  A block holding ``>>>`` prompts is a doctest: its
outputs are compared with what the page shows (``ELLIPSIS`` and
``NORMALIZE_WHITESPACE``).  Any other Python block is executed as it stands.
A line ``--8<-- "path"`` (pymdownx.snippets) is replaced by that file of the
repository, as the site shows it.  A block of another language with a title
(```` ```csv title="deals.csv" ````, shown by the site as a file) is written
to that file before the page's examples run, so the examples can read it.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path
from typing import NamedTuple

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))

PYTHON = frozenset({"python", "py", "pycon"})
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
TITLE = re.compile(r'title="(?P<title>[^"]+)"')
SNIPPET = re.compile(r"^\s*--8<--\s+\"(?P<path>[^\"]+)\"\s*$")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


class Block(NamedTuple):
    """One fenced code block of a page."""

    line: int  # 1-based line of the opening fence
    language: str
    code: str
    title: str = ""


def code_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order, their indentation removed."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        language = opening["info"].split(" ")[0].strip("{}.").lower() if opening["info"] else ""
        title = TITLE.search(opening["info"])
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            closing = FENCE.match(lines[j])
            if closing is not None and closing["fence"].startswith(fence) and not closing["info"]:
                break
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        blocks.append(Block(i + 1, language, "\n".join(body) + "\n", title["title"] if title else ""))
        i = j + 1
    return blocks


def expand_snippets(code: str) -> str:
    """Replace each ``--8<-- "path"`` line by the file it names (relative to the repository)."""
    out: list[str] = []
    for line in code.splitlines(keepends=True):
        match = SNIPPET.match(line)
        out.append((ROOT / match["path"]).read_text(encoding="utf-8") if match else line)
    return "".join(out)


def test_block_parser_finds_fences_indented_and_not() -> None:
    page = 'text\n\n```python\nx = 1\n```\n\n  ```pycon\n  >>> x + 1\n  2\n\n  ```\n\n```csv title="a.csv"\na,b\n```\n'
    assert code_blocks(page) == [
        Block(3, "python", "x = 1\n"),
        Block(7, "pycon", ">>> x + 1\n2\n\n"),
        Block(13, "csv", "a,b\n", "a.csv"),
    ]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's Python blocks run in order in one namespace; doctest blocks print what they show."""
    every = code_blocks((DOCS / page).read_text(encoding="utf-8"))
    blocks = [b for b in every if b.language in PYTHON]
    if not blocks:
        pytest.skip(f"docs/{page} has no Python example")
    monkeypatch.chdir(tmp_path)
    for block in every:
        if block.title and block.language not in PYTHON:
            (tmp_path / block.title).write_text(block.code, encoding="utf-8")
    namespace: dict[str, object] = {"__name__": "__docs__"}
    parser = doctest.DocTestParser()
    report: list[str] = []
    with pl.Config():  # a page may set display options; they end with the page
        for block in blocks:
            code = expand_snippets(block.code)
            where = f"docs/{page}:{block.line}"
            if ">>>" in code:
                test = parser.get_doctest(code, namespace, where, str(DOCS / page), block.line)
                test.globs = namespace  # get_doctest copies it: share the page's namespace instead
                runner = doctest.DocTestRunner(optionflags=FLAGS)
                runner.run(test, out=report.append, clear_globs=False)
                if runner.failures:
                    break  # later blocks build on this one
            else:
                try:
                    exec(compile(code, where, "exec"), namespace)
                except Exception as exc:
                    report.append(f"{where}: {type(exc).__name__}: {exc}")
                    break
    assert not report, "\n".join(report)


EXAMPLE_PLUGIN = DOCS / "examples" / "retainlib-etsy" / "src" / "retainlib_etsy" / "__init__.py"
ETSY_CSV = """\
Sale Date,Order ID,Buyer User ID,Full Name,Currency,Order Value,Discount Amount,Shipping,Order Total
03/01/24,3001,81,Ann Lee,usd,42.00,4.20,5.00,42.80
03/02/24,3002,82,Bo Chen,USD,"1,250.00",,0,"1,250.00"
03/15/24,3003,81,Ann Lee,USD,18.00,0,5.00,23.00
02/30/24,3004,83,Cy Doe,USD,9.00,0,0,9.00
03/20/24,3005,,Di Eve,USD,abc,0,0,0
03/21/24,3006,84,Ed Fox,USD,5.00,6.00,0,0
"""


def test_the_example_plugin_is_found_through_its_entry_point_and_reads_through_rl_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/examples/retainlib-etsy, registered as an installed plugin, is a source of rl.read like any other."""
    import importlib.metadata
    import importlib.util
    import sys
    from decimal import Decimal

    import retainlib as rl
    from retainlib import _host

    spec = importlib.util.spec_from_file_location("retainlib_etsy", EXAMPLE_PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "retainlib_etsy", module)
    spec.loader.exec_module(module)
    entry = importlib.metadata.EntryPoint(name="etsy", value="retainlib_etsy", group="retainlib")
    monkeypatch.setattr(_host, "_entry_points", lambda: [entry])
    _host.default_host.cache_clear()
    try:
        assert "etsy" in rl.sources()
        path = tmp_path / "EtsySoldOrders2024.csv"
        path.write_text(ETSY_CSV, encoding="utf-8")
        named = rl.read("etsy", path, tz="America/New_York")
        detected = rl.read(path, tz="America/New_York")  # found by its header
    finally:
        _host.default_host.cache_clear()

    assert detected.source == named.source == "etsy"
    assert detected.equals(named)
    report = named.report
    assert report is not None
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (6, 3, 3)
    rejects = report.rejects.select("line", "column", "reason").sort("line").rows()
    assert rejects == [
        (5, "Sale Date", "Sale Date: not a date (MM/DD/YY)"),
        (6, "Buyer User ID", "Buyer User ID: missing; Order Value: not an amount"),
        (7, "Discount Amount", "Discount Amount: more than the order value"),
    ]
    when = pl.col("ordered_at").dt.to_string("%Y-%m-%d %H:%M")
    orders = named.require("orders").select("order_id", "customer_id", when, "amount", "currency").collect()
    assert orders.sort("order_id").rows() == [
        ("3001", "81", "2024-03-01 05:00", Decimal("37.8"), "USD"),  # value less discount; EST: UTC-5
        ("3002", "82", "2024-03-02 05:00", Decimal("1250"), "USD"),  # thousands separator, no discount
        ("3003", "81", "2024-03-15 04:00", Decimal("18"), "USD"),  # EDT from 10 March: UTC-4
    ]
    created = pl.col("created_at").dt.to_string("%Y-%m-%d %H:%M")
    customers = named.require("customers").select("customer_id", created).collect()
    assert customers.sort("customer_id").rows() == [("81", "2024-03-01 05:00"), ("82", "2024-03-02 05:00")]
    assert rl.repeat_purchase_rate(named)["repeat_customers"].to_list() == [1]
