"""The ``retainlib`` command line: sources, read, validate, demo."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import polars as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from retainlib._dataset import Dataset
from retainlib._host import default_host
from retainlib._read import read
from retainlib._render import rich_table
from retainlib.errors import RetainlibError
from retainlib.plugins import watching_progress
from retainlib.report import LoadReport

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


def _read_with_progress(source: str | None, paths: Sequence[Path], options: dict[str, Any]) -> Dataset:
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task("reading files", total=len(paths))

        def done(path: Path, rows: int) -> None:
            bar.update(task, advance=1, description=f"read {path.name} ({rows:,} rows)")

        with watching_progress(done):
            if source is None:
                return read(paths[0], *paths[1:], **options)
            return read(source, *paths, **options)


class _Group(click.Group):
    """Turns retainlib errors into a one-line message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RetainlibError as exc:
            err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
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
    click.option("-o", "--option", "extra", multiple=True, metavar="KEY=VALUE", help="Any other source option."),
]


def _with_source_options(f: Any) -> Any:
    for option in reversed(_source_options):
        f = option(f)
    return f


def _options(table: str | None, tz: str | None, mapping: Sequence[str], extra: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = dict(_parse_pairs(extra, "--option"))
    if table:
        options["table"] = table
    if tz:
        options["tz"] = tz
    if mapping:
        options["mapping"] = _parse_pairs(mapping, "--map")
    return options


@main.command("read")
@click.argument("source")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the canonical Parquet dataset to.",
)
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path), help="Write rejected rows to this CSV.")
@_with_source_options
def read_command(
    source: str,
    paths: tuple[Path, ...],
    out: Path,
    rejects: Path | None,
    table: str | None,
    tz: str | None,
    mapping: tuple[str, ...],
    extra: tuple[str, ...],
) -> None:
    """Read PATHS with SOURCE (or 'auto' to detect) and write the canonical dataset to --out."""
    dataset = _read_with_progress(None if source == "auto" else source, paths, _options(table, tz, mapping, extra))
    dataset.write_parquet(out)
    assert dataset.report is not None
    _print_report(dataset.report)
    if rejects is not None:
        dataset.report.write_rejects(rejects)
        console.print(f"rejected rows written to {rejects}")
    console.print(f"dataset written to {out}/ ({', '.join(dataset.tables)})")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--source", help="Source to read the files with (default: detected).")
@_with_source_options
def validate(
    paths: tuple[Path, ...],
    source: str | None,
    table: str | None,
    tz: str | None,
    mapping: tuple[str, ...],
    extra: tuple[str, ...],
) -> None:
    """Check files (or a dataset folder) and report every problem; exit 1 if rows were rejected."""
    if len(paths) == 1 and paths[0].is_dir():
        dataset = Dataset.read_parquet(paths[0], validate="full")
        counts = dataset.counts()
        console.print(_table(pl.DataFrame({"table": list(counts), "rows": list(counts.values())}), "Dataset"))
        console.print("[green]valid[/]")
        return
    dataset = _read_with_progress(source, paths, _options(table, tz, mapping, extra))
    assert dataset.report is not None
    _print_report(dataset.report)
    if dataset.report.rows_rejected:
        sys.exit(1)


@main.command()
@click.option("--customers", default=5_000, show_default=True, help="Size of the sample store.")
@click.option("--seed", default=0, show_default=True, help="Random seed.")
@click.option(
    "--period", default="month", show_default=True, type=click.Choice(["day", "week", "month", "quarter", "year"])
)
def demo(customers: int, seed: int, period: str) -> None:
    """Generate the sample store and print its headline metrics."""
    from retainlib._demo import run_demo

    run_demo(console, customers=customers, seed=seed, period=period)
