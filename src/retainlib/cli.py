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
from rich.text import Text

from retainlib._dataset import Dataset
from retainlib._host import default_host
from retainlib._read import read
from retainlib._render import rich_table
from retainlib._stream import read_to_parquet
from retainlib.errors import RetainlibError
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


def _read_with_progress(args: Sequence[str], options: dict[str, Any], out: Path | None = None) -> Dataset:
    """Read like :func:`retainlib.read` (or :func:`retainlib.read_to_parquet` into ``out``).

    A first argument naming a source (or ``auto``) is the source.
    """
    if args and args[0] == "auto":
        args = args[1:]
    if not args:
        raise click.UsageError("give the files to read (after the source's name, if any)")
    first = args[0] in default_host().sources
    paths = [Path(a) for a in args[int(first) :]]
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
