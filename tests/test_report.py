"""rl.report: the numbers equal the kernels', sections follow the tables, the HTML is self-contained and bounded."""

from __future__ import annotations

import datetime as dt
import html
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import retainlib as rl
from retainlib.clv import BetaGeo, TimeUnit
from retainlib.errors import OptionError
from retainlib.reporting import DEFINITIONS, Report
from retainlib.reporting._html import CHARTS_HINT, heat_colour
from retainlib.samples import synthetic_store

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: The one address an inline SVG may hold: its namespace.
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


@pytest.fixture(scope="module")
def store() -> rl.Dataset:
    return synthetic_store(customers=400, seed=2).collect()


@pytest.fixture(scope="module")
def full(store: rl.Dataset) -> Report:
    return rl.report(store, by="channel", window=180)


@pytest.fixture(scope="module")
def page(full: Report) -> str:
    return full.html()


def _orders(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "ordered_at": [r[2] for r in rows],
            "amount": [r[3] for r in rows],
            "currency": ["EUR"] * len(rows),
        }
    )


class _Cells(HTMLParser):
    """Collects, per table caption, the rows of ``data-value`` attributes and texts; and every section id."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.tables: dict[str, list[list[tuple[str | None, str]]]] = {}
        self.cards: dict[str, str] = {}
        self._caption: str | None = None
        self._in_caption = False
        self._row: list[tuple[str | None, str]] | None = None
        self._cell: list[Any] | None = None
        self._card: str | None = None
        self._card_value = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("id"):
            self.sections.append(str(a["id"]))
        elif tag == "caption":
            self._in_caption, self._caption = True, ""
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = [a.get("data-value"), ""]
        elif tag == "div" and (a.get("id") or "").startswith("h-"):
            self._card = str(a["id"])[2:]
        elif tag == "div" and a.get("class") == "value" and self._card is not None:
            self.cards[self._card] = a.get("data-value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False
            self.tables.setdefault(self._caption or "", [])
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append((self._cell[0], self._cell[1]))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._caption is not None:
                self.tables.setdefault(self._caption, []).append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self._caption = (self._caption or "") + data
        elif self._cell is not None:
            self._cell[1] += data


def _parse(text: str) -> _Cells:
    parser = _Cells()
    parser.feed(text)
    return parser


# ----------------------------------------------------------------------------- the numbers


def test_headlines_equal_the_kernels(store: rl.Dataset, full: Report) -> None:
    repeat = rl.repeat_purchase_rate(store)
    assert full.headline("repeat_purchase_rate").value == repeat["repeat_purchase_rate"].item()
    assert full.headline("customers").value == repeat["customers"].item()
    rates = rl.retention_rate(store).filter(pl.col("is_complete"))
    assert full.headline("retention_rate").value == rates["retention_rate"][-1]
    movements = rl.mrr_movements(store).filter(pl.col("is_complete"))
    assert full.headline("mrr").value == movements["mrr_end"][-1]
    assert full.headline("net_revenue_retention").value == movements["net_revenue_retention"][-1]
    assert full.headline("logo_churn_rate").value == movements["logo_churn_rate"][-1]
    yearly = rl.revenue_retention(store, horizon=12)
    assert full.headline("net_revenue_retention_year").value == yearly["net_revenue_retention"][-1]
    assert full.headline("nps").value == rl.nps(store, period=None)["nps"].item()
    assert full.headline("median_lifetime_subscribers").value == rl.median_lifetime(store)["median"].item()
    buyers = rl.median_lifetime(store, window=dt.timedelta(days=180))["median"].item()
    assert full.headline("median_lifetime_buyers").value == buyers
    support = rl.support_retention(store).filter(pl.col("group") == "supported")
    pooled = int(support["retained"].sum()) / int(support["customers"].sum())
    assert full.headline("support_retention_supported").value == pooled
    assert full.frames["triangle"].equals(rl.triangle(rl.cohort_retention(store)))


def test_a_hand_computed_shop() -> None:
    # a: Jan, Feb, Mar; b: Jan, Mar; c: Feb only.  Months: Jan {a, b}, Feb {a, c}, Mar {a, b}.
    orders = _orders(
        [
            ("1", "a", "2024-01-05T10:00:00Z", "10"),
            ("2", "a", "2024-02-05T10:00:00Z", "10"),
            ("3", "a", "2024-03-05T10:00:00Z", "10"),
            ("4", "b", "2024-01-09T10:00:00Z", "20"),
            ("5", "b", "2024-03-09T10:00:00Z", "20"),
            ("6", "c", "2024-02-20T10:00:00Z", "5"),
        ]
    )
    r = rl.report(rl.Dataset(orders=orders), as_of=dt.date(2024, 3, 31))
    assert [s.key for s in r.sections] == ["orders"]
    assert r.headline("customers").value == 3
    assert r.headline("repeat_purchase_rate").value == pytest.approx(2 / 3)
    # March: of {a, c} active in February, a stayed.
    assert r.headline("retention_rate").value == pytest.approx(1 / 2)
    # Back one month after the first: January's cohort {a, b} has a in February; February's {c} nobody in March.
    assert r.headline("cohort_retention_1").value == pytest.approx(1 / 3)
    # March's returning customers: a (3 orders) and b (2): both.
    assert r.headline("returning_customer_rate").value == pytest.approx(1.0)
    tri = r.frames["triangle"]
    assert tri.row(0) == (dt.date(2024, 1, 1), 2, 1.0, 0.5, 1.0)
    assert r.counts == {"orders": 6}
    text = r.html(charts=False)
    assert "<svg" not in text
    assert "66.7%" in text and "50.0%" in text


def test_sections_follow_the_tables_and_missing_ones_are_said(store: rl.Dataset) -> None:
    r = rl.report(rl.Dataset(responses=store.responses, validate="none"))
    assert [s.key for s in r.sections] == ["nps"]
    reasons = {s.section: s.reason for s in r.skipped}
    assert reasons["Customers and orders"] == "the dataset has no orders table"
    assert reasons["Subscription revenue"] == "the dataset has no subscriptions table"
    assert "tickets" in reasons["Retention after support"]
    text = r.html(charts=False)
    assert 'id="not-shown"' in text and "the dataset has no orders table" in text
    tickets_only = rl.report(rl.Dataset(tickets=store.tickets, validate="none"))
    assert tickets_only.sections == ()
    assert any("no orders or subscriptions" in s.reason for s in tickets_only.skipped)


def test_all_sections_of_the_sample_store(full: Report) -> None:
    assert [s.key for s in full.sections] == [
        "orders",
        "subscriptions",
        "lifetime",
        "support",
        "nps",
        "events",
        "segments",
    ]
    assert full.skipped == ()
    assert {d.key for d in full.definitions} >= {"retention_rate", "mrr_movements", "nps", "survival", "compare"}


def test_several_currencies_skip_the_money_and_say_why(store: rl.Dataset) -> None:
    subs = store.subscriptions
    assert subs is not None
    mixed = subs.with_columns(
        pl.when(pl.col("subscription_id").str.ends_with("1"))
        .then(pl.lit("EUR"))
        .otherwise(pl.col("currency"))
        .alias("currency")
    )
    r = rl.report(rl.Dataset(subscriptions=mixed, validate="none"))
    assert "subscriptions" not in [s.key for s in r.sections]
    reason = next(s.reason for s in r.skipped if s.section == "Subscription revenue")
    assert "EUR" in reason and "by='currency'" in reason


def test_options_are_checked(store: rl.Dataset) -> None:
    with pytest.raises(OptionError, match="Dataset"):
        rl.report(store.orders)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="period"):
        rl.report(store, period="fortnight")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="no column 'nosuch'"):
        rl.report(store, by="nosuch")


def test_progress_is_called_for_every_section(store: rl.Dataset) -> None:
    calls: list[tuple[str, int, int]] = []
    r = rl.report(store, progress=lambda step, done, total: calls.append((step, done, total)))
    total = len(r.sections) + 1
    assert [c[1] for c in calls] == list(range(total + 1))
    assert all(c[2] == total for c in calls)
    assert [c[0] for c in calls[1:-1]] == [s.title for s in r.sections]


def test_definitions_follow_the_docs_pages() -> None:
    for d in DEFINITIONS.values():
        page = DOCS / d.page
        assert page.exists(), d.page
        text = " ".join(page.read_text(encoding="utf-8").replace("`", "").split())
        formula = " ".join(d.formula.split())
        assert formula.split(" = ")[-1] in text, (d.key, formula)


# ----------------------------------------------------------------------------- the HTML


def test_html_has_every_section_and_the_kernels_numbers(store: rl.Dataset, full: Report, page: str) -> None:
    cells = _parse(page)
    for key in ["summary", *(s.key for s in full.sections), "definitions", "load-report", "data"]:
        assert key in cells.sections
    assert cells.cards["repeat_purchase_rate"] == repr(rl.repeat_purchase_rate(store)["repeat_purchase_rate"].item())
    assert cells.cards["mrr"] == str(full.headline("mrr").value)
    tri = full.frames["triangle"].tail(36)
    caption = next(c for c in cells.tables if c.startswith("Cohort retention"))
    rows = cells.tables[caption][1:]  # the header row first
    assert len(rows) == tri.height
    for row, expected in zip(rows, tri.iter_rows(), strict=True):
        values = [v for v, _ in row[1:]]
        assert values[0] == str(expected[1])
        assert values[1:] == [None if x is None else repr(x) for x in expected[2 : 2 + len(values) - 1]]
    movements = rl.mrr_movements(store).tail(24)
    caption = next(c for c in cells.tables if c.startswith("MRR movements"))
    shown = [row[7][0] for row in cells.tables[caption][1:]]
    assert shown == [str(v) for v in movements["mrr_end"]]


def test_html_fetches_nothing(page: str) -> None:
    addresses = set(re.findall(r"\b(?:https?|ftp)://[^\s\"'<>)]+", page))
    assert addresses <= {SVG_NAMESPACE}
    lowered = page.lower()
    for banned in ("<script src", "<link", "@import", "<img", "<iframe", "@font-face"):
        assert banned not in lowered
    assert not re.search(r"url\((?!#)", page)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_html_charts_are_inline_svg(full: Report, page: str) -> None:
    pytest.importorskip("matplotlib")
    charts = sum(len(s.charts) for s in full.sections)
    assert page.count("<svg") == charts > 0
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "element ids repeat between the charts"
    assert html.escape(CHARTS_HINT) not in page


def test_without_matplotlib_the_tables_stay_and_the_page_says_how(
    full: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    text = full.html()
    assert html.escape(CHARTS_HINT) in text and "<svg" not in text
    assert 'pip install "retainlib[plot]"' in text.replace("&quot;", '"')
    assert "Cohort retention" in text and 'id="subscriptions"' in text


def test_size_is_bounded_whatever_the_span(store: rl.Dataset, tmp_path: Path) -> None:
    # Daily periods over three years: a thousand periods and cohorts, cut to the latest rows in the page.
    daily = rl.report(rl.Dataset(orders=store.orders, validate="none"), period="day")
    assert daily.frames["retention_rate"].height > 900
    path = daily.to_html(tmp_path / "daily.html", charts=False)
    size = path.stat().st_size
    assert size < 2_000_000
    cells = _parse(path.read_text(encoding="utf-8"))
    caption = next(c for c in cells.tables if c.startswith("Cohort retention"))
    assert len(cells.tables[caption]) == 1 + 36 and len(cells.tables[caption][0]) == 2 + 36
    caption = next(c for c in cells.tables if c.startswith("Period retention"))
    assert len(cells.tables[caption]) == 1 + 24
    assert "The latest 24 of" in path.read_text(encoding="utf-8")


def test_load_report_is_in_the_page(tmp_path: Path) -> None:
    f = tmp_path / "orders.csv"
    f.write_text(
        "order_id,customer_id,ordered_at,amount,currency\n"
        "o1,c1,2024-01-05T10:00:00Z,10.00,EUR\no2,c1,2024-02-05T00:00:00Z,oops,EUR\n"
        "o3,c2,2024-02-07T00:00:00Z,5,EUR\n"
    )
    ds = rl.read("csv", f)
    text = rl.report(ds).html(charts=False)
    assert "rows read 3 = loaded 2 + rejected 1" in text
    cells = _parse(text)
    reasons = cells.tables["Rejected rows by reason"]
    assert [t for _, t in reasons[1]] == ["orders", "amount", "amount: not a number", "1"]
    first = cells.tables["The first 1 rejected rows"]
    assert [t for _, t in first[1]][1:] == ["3", "orders", "amount", "amount: not a number"]
    assert "there is no load report" in rl.report(rl.Dataset(orders=ds.orders, validate="none")).html(charts=False)


def test_text_from_the_data_is_escaped(tmp_path: Path) -> None:
    orders = _orders([("1", "a", "2024-01-05T10:00:00Z", "10"), ("2", "b", "2024-02-05T10:00:00Z", "10")])
    orders = orders.with_columns(pl.Series("segment", ["<script>alert(1)</script>", "x & y"]))
    text = rl.report(rl.Dataset(orders=orders), by="segment", title="<b>shop</b>").html()  # charts: labels too
    assert "<script>" not in text and "&lt;script&gt;" in text and "x &amp; y" in text
    assert "<b>shop</b>" not in text


def test_repr_html_is_short(full: Report) -> None:
    short = full._repr_html_()
    assert len(short) < 10_000 and "<svg" not in short
    assert full.headline("repeat_purchase_rate").text in short
    assert ".to_html(path)" in short


def test_clv_models_have_a_short_html_repr() -> None:
    model = BetaGeo.from_params(r=0.24, alpha=4.41, a=0.79, b=2.43, unit=TimeUnit.of("W"))
    text = model._repr_html_()
    for name in ("BetaGeo", "alpha", "0.24", "4.41"):
        assert name in text
    assert "not fitted" in BetaGeo()._repr_html_()
    store = synthetic_store(customers=300, seed=4)
    fitted = BetaGeo().fit(rl.rfm(store, freq="W"), unit=TimeUnit.of("W"))
    shown = fitted._repr_html_()
    assert f"{fitted.fitted.customers:,} customers" in shown and "AIC" in shown and len(shown) < 3000


@given(share=st.floats(min_value=-1, max_value=2, allow_nan=False))
def test_heat_colours_are_valid_and_darken(share: float) -> None:
    colour = heat_colour(share)
    assert re.fullmatch(r"#[0-9a-f]{6}", colour)
    lighter = heat_colour(share - 0.1)
    assert sum(int(lighter[i : i + 2], 16) for i in (1, 3, 5)) >= sum(int(colour[i : i + 2], 16) for i in (1, 3, 5))
