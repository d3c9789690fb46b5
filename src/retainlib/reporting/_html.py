"""A :class:`~retainlib.reporting.Report` as one self-contained HTML document.

The page fetches nothing: the style sheet is inline, charts are inline SVG
(:func:`retainlib.plot.to_svg`, text drawn as paths), there are no fonts to
load (system fonts) and no script.  Tables carry each number's exact value in
a ``data-value`` attribute beside the text shown, so tools (and tests) can
read the numbers back.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Final

import polars as pl

from retainlib.reporting._format import Kind, fmt, fmt_period

if TYPE_CHECKING:
    from retainlib.load_report import LoadReport
    from retainlib.reporting._model import Chart, Headline, Report, Section, TableView

__all__ = ["CHARTS_HINT", "render", "render_short"]

#: What the page says in place of the charts when matplotlib is missing.
CHARTS_HINT: Final = 'Charts need matplotlib: install it with pip install "retainlib[plot]" and write the report again.'
#: Rows of the load report's tables shown at most.
MAX_FILES: Final = 50
MAX_REASONS: Final = 20
MAX_REJECTS: Final = 20

_CSS: Final = """
:root { --ink: #1b1f24; --muted: #5b6470; --line: #d9dee4; --accent: #1f5f99; --card: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem; color: var(--ink); background: #fff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 1.7rem; margin: 0 0 .3rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 2px solid var(--accent); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
p, li, dd { max-width: 60rem; }
.meta, .note, figcaption, caption { color: var(--muted); font-size: .9rem; }
nav ol { columns: 2; padding-left: 1.2rem; margin: .6rem 0; }
a { color: var(--accent); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .6rem; margin: .8rem 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; }
.card .label { font-size: .85rem; color: var(--muted); }
.card .value { font-size: 1.45rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .detail { font-size: .8rem; color: var(--muted); }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .85rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; padding: .2rem 0; caption-side: top; font-weight: 600; color: var(--ink); }
th, td { padding: .2rem .5rem; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { background: var(--card); font-weight: 600; }
td.num, th.num { text-align: right; }
table.heat td.num { border: 1px solid #fff; min-width: 3.2rem; }
tbody tr:nth-child(even) td:not([style]) { background: #fafbfc; }
figure { margin: 1rem 0; }
figure svg { max-width: 100%; height: auto; }
dt { font-weight: 600; margin-top: .8rem; }
dd { margin-left: 1.2rem; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .85em;
  background: var(--card); padding: 0 .2rem; border-radius: 3px; }
.skipped li { color: var(--muted); }
footer { margin-top: 3rem; color: var(--muted); font-size: .8rem; border-top: 1px solid var(--line);
  padding-top: .6rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav { display: none; }
  h2 { break-after: avoid; }
  section, figure, table, .card { break-inside: avoid; }
  .scroll { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""

# Blues from very light to dark: the colour of a heat cell, by its share of the scale.
_HEAT: Final = ((247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def heat_colour(share: float) -> str:
    """The background of a heat cell whose value is ``share`` (0..1) of the scale, as ``#rrggbb``."""
    x = min(max(share, 0.0), 1.0) * (len(_HEAT) - 1)
    i = min(int(x), len(_HEAT) - 2)
    t = x - i
    rgb = (round(a + (b - a) * t) for a, b in zip(_HEAT[i], _HEAT[i + 1], strict=True))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _raw(value: object) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (Decimal, int, dt.date)):
        return str(value)
    return ""


def _cell_text(value: object, kind: Kind | None, period_column: bool, period: str) -> str:
    if value is None:
        return ""
    if period_column:
        return fmt_period(value, period)
    if kind is not None:
        return fmt(value, kind)
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def frame_table(
    frame: pl.DataFrame,
    *,
    caption: str = "",
    kinds: Mapping[str, Kind] | None = None,
    period_columns: Iterable[str] = (),
    period: str = "month",
    heat: Iterable[str] = (),
    css_class: str = "",
) -> str:
    """``frame`` as an HTML table; numbers right-aligned with their exact value in ``data-value``.

    Columns in ``heat`` get a background graded by value (0 to the largest
    value among them, leaving out the first heat column when it is constant,
    as period 0 of a cohort triangle is).
    """
    kinds = dict(kinds or {})
    periods = set(period_columns)
    heat_cols = [c for c in heat if c in frame.columns]
    top = 0.0
    if heat_cols:
        scale = heat_cols[1:] if len(heat_cols) > 1 and frame[heat_cols[0]].n_unique() == 1 else heat_cols
        found = frame.select(pl.max_horizontal(pl.col(scale).max())).item()
        top = float(found) if found else 0.0
    numeric = {name for name, dtype in frame.schema.items() if dtype.is_numeric()}
    out = [f'<div class="scroll"><table class="{_e(css_class)}">' if css_class else '<div class="scroll"><table>']
    if caption:
        out.append(f"<caption>{_e(caption)}</caption>")
    out.append(
        "<thead><tr>"
        + "".join(f'<th class="num">{_e(c)}</th>' if c in numeric else f"<th>{_e(c)}</th>" for c in frame.columns)
        + "</tr></thead><tbody>"
    )
    heat_set = set(heat_cols)
    for row in frame.iter_rows():
        cells = []
        for name, value in zip(frame.columns, row, strict=True):
            text = _e(_cell_text(value, kinds.get(name), name in periods, period))
            if name in numeric:
                style = ""
                if name in heat_set and value is not None and top > 0:
                    share = float(value) / top
                    style = f' style="background:{heat_colour(share)};color:{"#fff" if share > 0.55 else "#1b1f24"}"'
                raw = _raw(value)
                attr = f' data-value="{_e(raw)}"' if raw else ""
                cells.append(f'<td class="num"{attr}{style}>{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _view(view: TableView, period: str) -> str:
    frame = view.frame
    shown = frame.tail(view.max_rows)
    note = view.note
    if shown.height < frame.height:
        cut = f"The latest {shown.height} of {frame.height:,} rows."
        note = f"{cut} {note}".strip()
    heat = [c for c, k in view.kinds.items() if k == "percent" and c.isdigit()]
    body = frame_table(
        shown,
        caption=view.title,
        kinds=view.kinds,
        period_columns=view.period_columns,
        period=period,
        heat=heat,
        css_class="heat" if heat else "",
    )
    return body + (f'<p class="note">{_e(note)}</p>' if note else "")


def _card(h: Headline, anchor: str = "h-") -> str:
    detail = f'<div class="detail">{_e(h.detail)}</div>' if h.detail else ""
    raw = _raw(h.value)
    attr = f' data-value="{_e(raw)}"' if raw else ""
    return (
        f'<div class="card" id="{anchor}{_e(h.key)}"><div class="label">{_e(h.label)}</div>'
        f'<div class="value"{attr}>{_e(h.text)}</div>{detail}</div>'
    )


_ID: Final = re.compile(r'\bid="([^"]+)"')


def _scope_ids(svg: str, prefix: str) -> str:
    """Prefix every id of an SVG (and the references to it), so that several SVGs share a page safely.

    An id given to several elements (a label shared by bars) keeps the first
    and numbers the others, so that ids stay unique in the page.
    """
    ids = set(_ID.findall(svg))
    if not ids:
        return svg
    names = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    refs = re.compile(r'(href="#|url\(#)(' + names + r')(?=[")])')
    svg = refs.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", svg)
    seen: dict[str, int] = {}

    def rename(m: re.Match[str]) -> str:
        name = m.group(1)
        seen[name] = seen.get(name, 0) + 1
        suffix = "" if seen[name] == 1 else f"-{seen[name]}"
        return f'id="{prefix}{name}{suffix}"'

    return _ID.sub(rename, svg)


def chart_svg(chart: Chart) -> str:
    """The chart as inline SVG text (raises :class:`retainlib.plot.MissingExtraError` without matplotlib)."""
    from retainlib import plot

    draw = getattr(plot, chart.kind)
    fig = draw(chart.frame, title=chart.title, **dict(chart.options))
    return plot.to_svg(fig)


def _charts(section: Section, counter: list[int], state: dict[str, str | None]) -> str:
    if not section.charts:
        return ""
    if state.get("missing") or state.get("off"):
        return ""
    parts = []
    for chart in section.charts:
        try:
            svg = chart_svg(chart)
        except ImportError:
            state["missing"] = CHARTS_HINT
            return f'<p class="note">{_e(CHARTS_HINT)}</p>'
        counter[0] += 1
        svg = _scope_ids(svg, f"c{counter[0]}-")
        parts.append(
            f'<figure role="img" aria-label="{_e(chart.title)}">{svg}'
            f"<figcaption>{_e(chart.title)}</figcaption></figure>"
        )
    return "".join(parts)


def _section(section: Section, period: str, counter: list[int], state: dict[str, str | None]) -> str:
    out = [f'<section id="{_e(section.key)}"><h2>{_e(section.title)}</h2>']
    if section.intro:
        out.append(f"<p>{_e(section.intro)}</p>")
    if section.headlines:
        out.append('<div class="cards">' + "".join(_card(h) for h in section.headlines) + "</div>")
    out.append(_charts(section, counter, state))
    out.extend(_view(v, period) for v in section.tables)
    out.extend(f'<p class="note">{_e(n)}</p>' for n in section.notes)
    out.append("</section>")
    return "".join(out)


def _load(load: LoadReport | None) -> str:
    out = ['<section id="load-report"><h2>Load report</h2>']
    if load is None:
        out.append(
            "<p>The dataset was not read from files by a source (it was built from frames or a "
            "Parquet folder), so there is no load report.</p></section>"
        )
        return "".join(out)
    out.append(
        f"<p>Source <code>{_e(load.source)}</code>: rows read {load.rows_read:,} = loaded "
        f"{load.rows_loaded:,} + rejected {load.rows_rejected:,}.</p>"
    )
    summary = load.summary()
    out.append(frame_table(summary.head(MAX_FILES), caption="Rows per file"))
    if summary.height > MAX_FILES:
        out.append(f'<p class="note">The first {MAX_FILES} of {summary.height:,} files.</p>')
    if load.rows_rejected:
        reasons = load.reasons()
        out.append(frame_table(reasons.head(MAX_REASONS), caption="Rejected rows by reason"))
        if reasons.height > MAX_REASONS:
            out.append(f'<p class="note">The {MAX_REASONS} most frequent of {reasons.height:,} reasons.</p>')
        first = load.rejects.head(MAX_REJECTS)
        out.append(frame_table(first, caption=f"The first {first.height} rejected rows"))
    out.append("</section>")
    return "".join(out)


def _definitions(report: Report) -> str:
    items = "".join(
        f'<dt id="def-{_e(d.key)}">{_e(d.title)}</dt><dd><code>{_e(d.formula)}</code><br>{_e(d.text)} '
        f'<span class="note">(retainlib documentation: {_e(d.page)})</span></dd>'
        for d in report.definitions
    )
    return f'<section id="definitions"><h2>Definitions</h2><dl>{items}</dl></section>' if items else ""


def _overview(report: Report) -> str:
    rows = []
    for name, count in report.counts.items():
        first, last = report.spans.get(name, (None, None))
        rows.append({"table": name, "rows": count, "first": _when(first), "last": _when(last)})
    frame = pl.DataFrame(rows, schema={"table": pl.String, "rows": pl.Int64, "first": pl.String, "last": pl.String})
    return '<section id="data"><h2>Data</h2>' + frame_table(frame, caption="Tables of the dataset") + "</section>"


def _when(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)


def _meta(report: Report) -> str:
    parts = [f"by {report.period}"]
    if report.source:
        parts.insert(0, f"source {report.source}")
    parts.append(f"as of {report.as_of}" if report.as_of is not None else "up to each table's last record")
    parts.append(f"time zone {report.tz}")
    if report.currency:
        parts.append(f"money in {report.currency}")
    parts.append(f"computed {report.created_at:%Y-%m-%d %H:%M} UTC")
    return " · ".join(parts)


#: The headline numbers "At a glance" shows first, when the report has them.
KEY_FIGURES: Final = (
    "repeat_purchase_rate",
    "retention_rate",
    "mrr",
    "net_revenue_retention",
    "net_revenue_retention_year",
    "median_lifetime_subscribers",
    "median_lifetime_buyers",
    "support_retention_supported",
    "nps",
    "stickiness",
)


def key_figures(report: Report, most: int = 8) -> list[Headline]:
    """The few headline numbers shown first: :data:`KEY_FIGURES` present, then others, up to ``most``."""
    by_key = {h.key: h for h in report.headlines}
    chosen = [by_key[k] for k in KEY_FIGURES if k in by_key]
    chosen += [h for h in report.headlines if h.key not in KEY_FIGURES]
    return chosen[:most]


def render(report: Report, *, charts: bool = True) -> str:
    """The full report as an HTML document (without its charts when ``charts`` is false)."""
    from retainlib import __version__

    counter = [0]
    state: dict[str, str | None] = {} if charts else {"off": "charts=False"}
    body = [_section(s, report.period, counter, state) for s in report.sections]
    toc = [(s.key, s.title) for s in report.sections]
    if report.skipped:
        toc.append(("not-shown", "Not in this report"))
    toc += [("definitions", "Definitions"), ("load-report", "Load report"), ("data", "Data")]
    headline_cards = "".join(_card(h, "top-") for h in key_figures(report))
    skipped = (
        '<section id="not-shown" class="skipped"><h2>Not in this report</h2><ul>'
        + "".join(f"<li><strong>{_e(s.section)}</strong>: {_e(s.reason)}</li>" for s in report.skipped)
        + "</ul></section>"
        if report.skipped
        else ""
    )
    hint = f'<p class="note">{_e(state["missing"])}</p>' if state.get("missing") else ""
    return "".join(
        [
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(report.title)}</title><style>{_CSS}</style></head><body>",
            f'<header><h1>{_e(report.title)}</h1><p class="meta">{_e(_meta(report))}</p>{hint}</header>',
            '<nav aria-label="Contents"><ol>' + "".join(f'<li><a href="#{_e(k)}">{_e(t)}</a></li>' for k, t in toc),
            "</ol></nav>",
            f'<section id="summary"><h2>At a glance</h2><div class="cards">{headline_cards}</div></section>'
            if headline_cards
            else "",
            *body,
            skipped,
            _definitions(report),
            _load(report.load),
            _overview(report),
            f"<footer>Made with retainlib {_e(__version__)}. Every number is an aggregate: the page holds no row "
            "per customer.</footer></body></html>\n",
        ]
    )


def render_short(report: Report) -> str:
    """A few lines of HTML for a notebook: the headline numbers and the sections there are."""
    rows = "".join(
        f'<tr><td style="text-align:left">{_e(h.label)}</td><td style="text-align:right"><b>{_e(h.text)}</b></td>'
        f'<td style="text-align:left;color:#5b6470">{_e(h.detail)}</td></tr>'
        for h in report.headlines
    )
    sections = ", ".join(s.title for s in report.sections) or "none"
    skipped = (
        "<br><span style='color:#5b6470'>Not shown: "
        + "; ".join(f"{_e(s.section)} ({_e(s.reason)})" for s in report.skipped)
        + "</span>"
        if report.skipped
        else ""
    )
    load = ""
    if report.load is not None:
        lr = report.load
        load = f"<br>Load: {lr.rows_read:,} rows read = {lr.rows_loaded:,} loaded + {lr.rows_rejected:,} rejected."
    return (
        f'<div class="retainlib-report"><b>{_e(report.title)}</b> '
        f'<span style="color:#5b6470">({_e(_meta(report))})</span>'
        f"<table>{rows}</table>"
        f"Sections: {_e(sections)}.{skipped}{load}<br>"
        "<span style='color:#5b6470'>The full report, with charts and tables: <code>.to_html(path)</code>.</span></div>"
    )
