"""The ``retainlib`` command line: sources, read, validate, report, metric, demo."""

from __future__ import annotations

import datetime as dt
import inspect
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import polars as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from retainlib._dataset import Dataset
from retainlib._host import default_host
from retainlib._read import host_for, read
from retainlib._render import rich_table
from retainlib._stream import read_to_parquet
from retainlib.calendar import check_period
from retainlib.errors import OptionError, RetainlibError
from retainlib.load_report import LoadReport
from retainlib.plugins import watching_progress

__all__ = ["main"]

# Wide enough for metric tables when the output is not a terminal (pipes, CI logs).
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True)


def _table(frame: pl.DataFrame, title: str) -> Table:
    return rich_table(frame, title, float_format=",.4g")


def _print_report(report: LoadReport) -> None:
    console.print(_table(report.summary(), f"Load report ({report.source})"))
    console.print(f"rows read {report.rows_read:,} = loaded {report.rows_loaded:,} + rejected {report.rows_rejected:,}")
    if report.rows_rejected:
        console.print(_table(report.reasons().head(20), "Rejected rows by reason"))


def _parse_pairs(pairs: Sequence[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=what)
        out[key.strip()] = value.strip()
    return out


def _progress() -> Progress:
    """A transient progress bar on stderr, drawn on a terminal only."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


def _read_with_progress(args: Sequence[str], options: dict[str, Any], out: Path | None = None) -> Dataset:
    """Read like :func:`retainlib.read` (or :func:`retainlib.read_to_parquet` into ``out``).

    A first argument naming a source (or ``auto``) is the source.
    """
    if args and args[0] == "auto":
        args = args[1:]
    if not args:
        raise click.UsageError("give the files to read (after the source's name, if any)")
    # a built-in source named: the installed plugins are not imported (as in retainlib.read)
    first = args[0] in host_for(args[0], args[1:]).sources
    paths = [Path(a) for a in args[int(first) :]]
    with _progress() as bar:
        task = bar.add_task("reading files", total=len(paths))

        def done(path: Path, rows: int) -> None:
            bar.update(task, advance=1, description=f"read {path.name} ({rows:,} rows)")

        with watching_progress(done):
            if out is not None:
                return read_to_parquet(*args, out=out, **options)
            return read(*args, **options)


class _Group(click.Group):
    """Turns retainlib errors (and files that cannot be written) into an error message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (RetainlibError, OSError) as exc:
            # Text, not markup: a message quoting the user's data may hold brackets.
            err_console.print(Text.assemble(("error: ", "bold red"), f"{type(exc).__name__}: {exc}"), soft_wrap=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="retainlib")
def main() -> None:
    """retainlib: customer-retention metrics from your exports."""


@main.command()
def sources() -> None:
    """List the sources (built-in and plugins) and their options."""
    host = default_host()
    t = Table(title="Sources", title_justify="left", header_style="bold")
    for col in ("name", "plugin", "reads", "description", "options"):
        t.add_column(col)
    for name, s in host.sources.items():
        t.add_row(name, s.plugin, ", ".join(s.kinds), s.description, ", ".join(s.options))
    console.print(t)
    for f in host.failures:
        err_console.print(f"[yellow]plugin {f.name!r} ({f.target}) failed to load:[/] {f.error}", highlight=False)


_source_options = [
    click.option("--table", help="Canonical table the files hold (generic sources)."),
    click.option("--tz", help="Time zone of naive timestamps, e.g. Europe/Paris."),
    click.option("--map", "mapping", multiple=True, metavar="FROM=TO", help="Rename a column (repeatable)."),
    click.option(
        "--default",
        "defaults",
        multiple=True,
        metavar="COLUMN=VALUE",
        help="Constant value of a canonical column the files lack, e.g. currency=EUR (repeatable).",
    ),
    click.option(
        "--refunds",
        type=click.Choice(["reject", "net", "keep"]),
        help="Orders with a negative amount: reject (default), net into the order their cancels column names, keep.",
    ),
    click.option("--lines", is_flag=True, help="Orders files hold one row per line item (amount = line total)."),
    click.option(
        "--quantity",
        metavar="COLUMN",
        help="With --unit-price: line items whose amount is quantity x unit price (implies --lines).",
    ),
    click.option("--unit-price", "unit_price", metavar="COLUMN", help="Line unit price column (see --quantity)."),
    click.option("-o", "--option", "extra", multiple=True, metavar="KEY=VALUE", help="Any other source option."),
]


def _with_source_options(f: Any) -> Any:
    for option in reversed(_source_options):
        f = option(f)
    return f


def _options(
    table: str | None,
    tz: str | None,
    mapping: Sequence[str],
    extra: Sequence[str],
    defaults: Sequence[str] = (),
    refunds: str | None = None,
    lines: bool = False,
    quantity: str | None = None,
    unit_price: str | None = None,
) -> dict[str, Any]:
    options: dict[str, Any] = dict(_parse_pairs(extra, "--option"))
    if table:
        options["table"] = table
    if tz:
        options["tz"] = tz
    if mapping:
        options["mapping"] = _parse_pairs(mapping, "--map")
    if defaults:
        options["defaults"] = _parse_pairs(defaults, "--default")
    if refunds:
        options["refunds"] = refunds
    if (quantity is None) != (unit_price is None):
        raise click.BadParameter("give both --quantity and --unit-price", param_hint="--quantity/--unit-price")
    if quantity is not None:
        options["lines"] = {"quantity": quantity, "unit_price": unit_price}
    elif lines:
        options["lines"] = True
    return options


_FILES_HELP = (
    "FILES are read with the source named by the first argument (see 'retainlib sources'), or, when the first "
    "argument is a file or 'auto', with the source detected for each file."
)


@main.command("read", epilog=_FILES_HELP)
@click.argument("files", nargs=-1, required=True, metavar="[SOURCE] FILES...")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the canonical Parquet dataset to.",
)
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path), help="Write rejected rows to this CSV.")
@_with_source_options
def read_command(files: tuple[str, ...], out: Path, rejects: Path | None, **source_options: Any) -> None:
    """Read FILES (with SOURCE, or detected) and write the canonical dataset to --out.

    Files are streamed where their source allows (the built-in csv and parquet
    sources do): a file larger than memory becomes a Parquet dataset, its
    rejected rows written to OUT/rejected/ as they are found.
    """
    dataset = _read_with_progress(files, _options(**source_options), out=out)
    assert dataset.report is not None
    _print_report(dataset.report)
    if rejects is not None:
        dataset.report.write_rejects(rejects)
        console.print(f"rejected rows written to {rejects}")
    console.print(f"dataset written to {out}/ ({', '.join(dataset.tables)})")


@main.command(epilog=_FILES_HELP + " A single folder is checked as a dataset written by 'retainlib read'.")
@click.argument("files", nargs=-1, required=True, metavar="[SOURCE] FILES...")
@_with_source_options
def validate(files: tuple[str, ...], **source_options: Any) -> None:
    """Check FILES (or a dataset folder) and report every problem; exit 1 if rows were rejected."""
    if len(files) == 1 and Path(files[0]).is_dir():
        dataset = Dataset.read_parquet(files[0], validate="full")
        counts = dataset.counts()
        console.print(_table(pl.DataFrame({"table": list(counts), "rows": list(counts.values())}), "Dataset"))
        console.print("[green]valid[/]")
        return
    dataset = _read_with_progress(files, _options(**source_options))
    assert dataset.report is not None
    _print_report(dataset.report)
    if dataset.report.rows_rejected:
        sys.exit(1)


def _load_dataset(files: Sequence[str], source_options: dict[str, Any]) -> Dataset:
    """FILES read with their source (progress on a terminal), or a dataset folder written by 'retainlib read'."""
    if len(files) == 1 and Path(files[0]).is_dir():
        return Dataset.read_parquet(files[0])
    return _read_with_progress(files, _options(**source_options))


@contextmanager
def _computing(what: str) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr while a report is computed (drawn on a terminal only)."""
    with _progress() as bar:
        task = bar.add_task(what, total=None)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"{what}: {step}")

        yield update


def _as_of(value: str | None) -> dt.datetime | dt.date | None:
    if value is None:
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give a date (2024-12-31, through its end) or a datetime with its offset "
            "(2025-01-01T00:00:00+00:00, exclusive)",
            param_hint="--as-of",
        ) from None
    if moment.tzinfo is None:
        raise click.BadParameter(
            f"{value!r} has no UTC offset: add one (2025-01-01T00:00:00+00:00) or give a date", param_hint="--as-of"
        )
    return moment


_PERIODS = click.Choice(["day", "week", "month", "quarter", "year"])
_metric_options = [
    click.option("--period", default="month", show_default=True, type=_PERIODS, help="Calendar period of the metrics."),
    click.option("--by", "by", multiple=True, metavar="COLUMN", help="Segment column (repeatable)."),
    click.option(
        "--as-of",
        "as_of",
        metavar="DATE",
        help="End of observation: a date (through its end) or a datetime with offset (exclusive). "
        "Default: each table's last record.",
    ),
    click.option(
        "--window",
        type=click.FloatRange(min=0, min_open=True),
        metavar="DAYS",
        help="Inactivity window after which a buyer counts as churned (buyers' survival).",
    ),
    click.option(
        "--report-tz",
        "report_tz",
        metavar="TZ",
        help="Reporting time zone: periods are its calendar periods (default: --tz when given, else UTC).",
    ),
]


def _with_metric_options(f: Any) -> Any:
    for option in reversed(_metric_options):
        f = option(f)
    return f


@main.command("report", epilog=_FILES_HELP + " A single folder is read as a dataset written by 'retainlib read'.")
@click.argument("files", nargs=-1, required=True, metavar="[SOURCE] FILES...")
@click.option(
    "--html",
    "html",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the full report (charts, tables, definitions, load report) to this HTML file.",
)
@click.option("--title", help="Title of the report.")
@click.option(
    "--charts/--no-charts", default=True, show_default=True, help="Draw the charts of the HTML report (matplotlib)."
)
@_with_metric_options
@_with_source_options
def report_command(
    files: tuple[str, ...],
    html: Path | None,
    title: str | None,
    charts: bool,
    period: str,
    by: tuple[str, ...],
    as_of: str | None,
    window: float | None,
    report_tz: str | None,
    **source_options: Any,
) -> None:
    """Report on FILES: headline numbers and the cohort triangle, or everything in one HTML file (--html).

    The report holds what the data allows: orders (retention, cohorts,
    repeat purchases), subscriptions (MRR, its movements, net revenue
    retention), customer lifetimes, retention after support tickets, NPS,
    product engagement, and segments with --by.  Sections without data are
    listed as not shown.
    """
    from retainlib.reporting import report

    dataset = _load_dataset(files, source_options)
    with _computing("computing the report") as progress:
        result = report(
            dataset,
            period=check_period(period),
            by=list(by) or None,
            as_of=_as_of(as_of),
            tz=report_tz or source_options.get("tz") or "UTC",
            window=window,
            title=title,
            progress=progress,
        )
    if html is None:
        result.print(console)
        return
    with _computing("drawing the charts") as progress:
        progress("writing HTML", 0, 1)
        out = result.to_html(html, charts=charts)
    console.print(f"report written to {out} ({out.stat().st_size / 1024:,.0f} KiB)", highlight=False)


def _metric_functions() -> dict[str, Callable[..., Any]]:
    import retainlib as rl

    names = [
        "retention_rate",
        "cohort_retention",
        "triangle",
        "repeat_purchase_rate",
        "returning_customer_rate",
        "mrr",
        "mrr_movements",
        "revenue_retention",
        "nps",
        "support_retention",
        "survival",
        "median_lifetime",
        "stickiness",
        "rfm",
        "clv_historical",
    ]
    return {name: getattr(rl, name) for name in names}


def _parse_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def compute_metric(
    name: str,
    dataset: Dataset,
    *,
    period: str,
    by: Sequence[str],
    as_of: dt.datetime | dt.date | None,
    tz: str,
    window: float | None,
    extra: dict[str, Any],
) -> pl.DataFrame:
    """The frame of metric ``name`` on ``dataset``, passing the kernel only the shared options it takes.

    ``window`` and ``extra`` (any other option of the kernel) are checked: one
    the kernel does not take is an :class:`~retainlib.errors.OptionError`.
    """
    functions = _metric_functions()
    if name not in functions:
        OptionError.one_of(
            name, list(functions), option="metric", message=f"unknown metric {name!r}; one of {', '.join(functions)}"
        )
    if name == "triangle":
        cohorts = compute_metric(
            "cohort_retention", dataset, period=period, by=by, as_of=as_of, tz=tz, window=window, extra=extra
        )
        return functions["triangle"](cohorts)  # type: ignore[no-any-return]
    kernel = functions[name]
    accepted = set(inspect.signature(kernel).parameters) - {next(iter(inspect.signature(kernel).parameters))}
    checked = dict(extra)
    if window is not None:
        checked["window"] = window
    unknown = [k for k in checked if k not in accepted]
    if unknown:
        raise OptionError(
            f"{name} takes no option {', '.join(map(repr, unknown))}; its options are {', '.join(sorted(accepted))}",
            option=unknown[0],
            value=checked[unknown[0]],
        )
    shared: dict[str, Any] = {"period": period, "by": list(by) or None, "as_of": as_of, "tz": tz}
    given = {k: v for k, v in shared.items() if k in accepted} | checked
    result = kernel(dataset, **given)
    return result.collect() if isinstance(result, pl.LazyFrame) else result


@main.command(epilog=_FILES_HELP + " A single folder is read as a dataset written by 'retainlib read'.")
@click.argument("name", metavar="NAME")
@click.argument("files", nargs=-1, required=True, metavar="[SOURCE] FILES...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "parquet"]),
    default="csv",
    show_default=True,
    help="Output format (json: one object per row; money as exact decimal strings).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (csv and json go to standard output without it; parquet needs it).",
)
@click.option(
    "-a", "--arg", "args", multiple=True, metavar="KEY=VALUE", help="Any other option of the metric (repeatable)."
)
@_with_metric_options
@_with_source_options
def metric(
    name: str,
    files: tuple[str, ...],
    fmt: str,
    out: Path | None,
    args: tuple[str, ...],
    period: str,
    by: tuple[str, ...],
    as_of: str | None,
    window: float | None,
    report_tz: str | None,
    **source_options: Any,
) -> None:
    """Write the frame of metric NAME on FILES as CSV, JSON or Parquet, for other tools.

    NAME is a kernel of retainlib: retention_rate, cohort_retention,
    triangle, repeat_purchase_rate, returning_customer_rate, mrr,
    mrr_movements, revenue_retention, nps, support_retention, survival,
    median_lifetime, stickiness, rfm or clv_historical.  Options a kernel does
    not take are not passed to it (survival has no period), except --window
    and --arg, which are checked.
    """
    known = list(_metric_functions())
    OptionError.one_of(name, known, option="metric", message=f"unknown metric {name!r}; one of {', '.join(known)}")
    if fmt == "parquet" and out is None:
        raise click.BadParameter("parquet is binary: give the file to write with --out", param_hint="--out")
    extra = {k: _parse_value(v) for k, v in _parse_pairs(args, "--arg").items()}
    dataset = _load_dataset(files, source_options)
    with _computing(f"computing {name}") as progress:
        progress(name, 0, 1)
        frame = compute_metric(
            name,
            dataset,
            period=period,
            by=by,
            as_of=_as_of(as_of),
            tz=report_tz or source_options.get("tz") or "UTC",
            window=window,
            extra=extra,
        )
    if dataset.report is not None and dataset.report.rows_rejected:
        lr = dataset.report
        err_console.print(
            f"[yellow]{lr.rows_rejected:,} of {lr.rows_read:,} rows rejected[/] (see 'retainlib validate' for why)",
            highlight=False,
        )
    if fmt == "parquet":
        assert out is not None
        frame.write_parquet(out)
    elif fmt == "json":
        text = frame.write_json()
        if out is None:
            click.echo(text)
        else:
            out.write_text(text + "\n", encoding="utf-8")
    elif out is None:
        click.echo(frame.write_csv(), nl=False)
    else:
        frame.write_csv(out)
    if out is not None:
        err_console.print(f"{name}: {frame.height:,} rows written to {out}", highlight=False)


@main.command()
@click.option("--customers", default=5_000, show_default=True, help="Size of the sample store.")
@click.option("--seed", default=0, show_default=True, help="Random seed.")
@click.option("--period", default="month", show_default=True, type=_PERIODS)
@click.option(
    "--html",
    "html",
    default="retainlib-demo.html",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the sample store's HTML report.",
)
def demo(customers: int, seed: int, period: str, html: Path) -> None:
    """Generate the sample store, print its headline metrics and write its HTML report."""
    from retainlib._demo import run_demo

    run_demo(console, customers=customers, seed=seed, period=period, html=html, computing=_computing)
