"""The :class:`Report`: a dataset's headline numbers, tables and charts, ready to show."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import attrs
import polars as pl

from retainlib.load_report import LoadReport
from retainlib.reporting._definitions import DEFINITIONS, Definition
from retainlib.reporting._format import Kind, fmt

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Chart", "ChartKind", "Headline", "Report", "Section", "Skipped", "TableView"]

#: The charts a report draws, by the name of the :mod:`retainlib.plot` function drawing them.
ChartKind: TypeAlias = Literal[
    "cohort_heatmap", "retention_curves", "mrr_waterfall", "nps_trend", "survival_curve", "support_trend"
]


def _mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@attrs.frozen(kw_only=True)
class Headline:
    """One headline number.

    Attributes:
        key: a short name (``"repeat_purchase_rate"``, ``"mrr"``...).
        label: what it is, for people.
        value: the number (as the kernel computed it), ``None`` when there is none.
        kind: how it is written (``"percent"``, ``"money"``, ``"count"``...).
        detail: where it comes from: its period, its interval.
        metric: the :data:`~retainlib.reporting.DEFINITIONS` key defining it.
        currency: the currency of money.
    """

    key: str
    label: str
    value: Any
    kind: Kind
    detail: str = ""
    metric: str = ""
    currency: str | None = None

    @property
    def text(self) -> str:
        """The value as shown (``"36.9%"``, ``"34,325.84 USD"``, ``"n/a"`` when missing)."""
        return fmt(self.value, self.kind, currency=self.currency) or "n/a"


@attrs.frozen(kw_only=True)
class TableView:
    """A table of a section: a frame to show, with what its columns are.

    Attributes:
        key: the frame's name in :attr:`Report.frames` it is taken from.
        title: its caption.
        frame: the rows and columns to show (not yet cut to the display limit).
        kinds: how to write each column (columns not named are written as they are).
        note: a sentence under the table.
        max_rows: show at most this many rows (the last ones: the latest periods).
        period_columns: columns holding a period's first day, written as the period.
    """

    key: str
    title: str
    frame: pl.DataFrame
    kinds: Mapping[str, Kind] = attrs.field(factory=dict, converter=_mapping)
    note: str = ""
    max_rows: int = 24
    period_columns: tuple[str, ...] = ("period",)


@attrs.frozen(kw_only=True)
class Chart:
    """A chart of a section, drawn by :mod:`retainlib.plot` when the report is written.

    Attributes:
        kind: the :mod:`retainlib.plot` function drawing it.
        title: its title.
        frame: the (already bounded) frame it draws.
        options: keyword options of the plot function (``by=``...).
    """

    kind: ChartKind
    title: str
    frame: pl.DataFrame
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_mapping)


@attrs.frozen(kw_only=True)
class Section:
    """One part of a report (orders, subscription revenue, NPS...).

    Attributes:
        key: its anchor (``"orders"``, ``"subscriptions"``...).
        title: its heading.
        intro: a sentence saying what it shows and from which table.
        headlines: its headline numbers.
        charts: its charts.
        tables: its tables.
        metrics: the :data:`~retainlib.reporting.DEFINITIONS` keys of the metrics it uses.
        notes: remarks (a part left out and why).
    """

    key: str
    title: str
    intro: str = ""
    headlines: tuple[Headline, ...] = ()
    charts: tuple[Chart, ...] = ()
    tables: tuple[TableView, ...] = ()
    metrics: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Skipped:
    """A section the report left out, and why.

    Attributes:
        section: the section's title.
        reason: why it is not there (the missing table, the option to give).
    """

    section: str
    reason: str


@attrs.frozen(kw_only=True)
class Report:
    """The headline numbers, tables and charts of a :class:`~retainlib.Dataset`.

    Made by :func:`retainlib.report`.  It holds aggregates only (kernel
    results, never a row per customer), so it stays small whatever the size of
    the data.  Write it with :meth:`to_html` (one self-contained file), print
    it with :meth:`print`, or show it in a notebook (its short HTML form).

    Attributes:
        title: the report's title.
        period: the calendar period of its per-period metrics.
        by: the segment columns of its segments section (empty: none).
        as_of: the end of observation given (``None``: each table's last timestamp).
        tz: the reporting time zone.
        source: where the data came from (a source name), when known.
        created_at: when the report was computed (UTC).
        counts: rows per table of the dataset.
        spans: per table, its first and last timestamp.
        currency: the currency of the money shown (``None`` when there is no money).
        sections: the parts computed, in order.
        skipped: the parts left out, with the reason.
        load: the dataset's load report (``None`` when it was not read from files).
        frames: every kernel result the report used, by name (aggregates).
        seconds: time spent per section.
    """

    title: str
    period: str
    by: tuple[str, ...] = ()
    as_of: dt.datetime | dt.date | None = None
    tz: str = "UTC"
    source: str | None = None
    created_at: dt.datetime = attrs.field(factory=lambda: dt.datetime.now(dt.UTC))
    counts: Mapping[str, int] = attrs.field(factory=dict, converter=_mapping)
    spans: Mapping[str, tuple[dt.datetime | None, dt.datetime | None]] = attrs.field(factory=dict, converter=_mapping)
    currency: str | None = None
    sections: tuple[Section, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    load: LoadReport | None = None
    frames: Mapping[str, pl.DataFrame] = attrs.field(factory=dict, converter=_mapping, repr=False)
    seconds: Mapping[str, float] = attrs.field(factory=dict, converter=_mapping, repr=False)

    # ------------------------------------------------------------------ access
    @property
    def headlines(self) -> tuple[Headline, ...]:
        """Every headline number, section by section."""
        return tuple(h for s in self.sections for h in s.headlines)

    def headline(self, key: str) -> Headline:
        """The headline number ``key`` (a :class:`KeyError` naming the keys there are when absent)."""
        for h in self.headlines:
            if h.key == key:
                return h
        raise KeyError(f"no headline {key!r}; the report has {', '.join(h.key for h in self.headlines)}")

    def section(self, key: str) -> Section:
        """The section ``key`` (a :class:`KeyError` naming the sections there are when absent)."""
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(f"no section {key!r}; the report has {', '.join(s.key for s in self.sections)}")

    def __iter__(self) -> Iterator[Section]:
        return iter(self.sections)

    @property
    def definitions(self) -> tuple[Definition, ...]:
        """The definitions of the metrics the report shows, in order of first use."""
        keys = dict.fromkeys(k for s in self.sections for k in s.metrics)
        return tuple(DEFINITIONS[k] for k in keys if k in DEFINITIONS)

    @property
    def cohort_triangle(self) -> pl.DataFrame | None:
        """The cohort triangle (retention shares) of the orders, when the report has one."""
        return self.frames.get("triangle")

    # ----------------------------------------------------------------- output
    def html(self, *, charts: bool = True) -> str:
        """The report as one self-contained HTML document (what :meth:`to_html` writes)."""
        from retainlib.reporting._html import render

        return render(self, charts=charts)

    def to_html(self, path: str | Path, *, charts: bool = True) -> Path:
        """Write the report to ``path`` as one self-contained HTML file and return the path.

        The file makes no network request: styles are inline, charts are
        inline SVG (drawn with matplotlib when it is installed, else left out
        with a note saying how to get them), and it needs no script.  It holds
        aggregates only, with long tables cut to their latest rows, so its size
        is bounded whatever the size of the data.  ``charts=False`` leaves the
        charts out (a quicker, smaller file with every table).
        """
        out = Path(path)
        out.write_text(self.html(charts=charts), encoding="utf-8")
        return out

    def _repr_html_(self) -> str:
        """A short HTML summary for notebooks: the headline numbers and what the report holds."""
        from retainlib.reporting._html import render_short

        return render_short(self)

    def print(self, console: Console | None = None) -> None:
        """Print the headline numbers and the cohort triangle as tables (rich), fitted to the console's width."""
        from rich.console import Console

        from retainlib.reporting._terminal import print_report

        print_report(self, console or Console())

    def __repr__(self) -> str:
        parts = ", ".join(s.key for s in self.sections) or "no sections"
        return f"<Report {self.title!r} by {self.period}: {parts}>"
