"""Reading orders files with retainlib's sources beside polars' own reader.

Run by hand (from the repository root)::

    python3 -m uv run --all-packages python benchmarks/bench_read.py [--rows 1000000] [--repeat 3] [--large] \
        [--formats csv json parquet stripe cdnow] [--data DIR]

``--large`` adds 10M rows; ``--repeat 0`` only writes the files.  Writes
``benchmarks/results-read.md``.  ``--data DIR`` keeps the generated files in
``DIR/<rows>/`` (``DIR/1M/``, reused when present) instead of a temporary folder,
for timing ``--one`` by hand.

Canonical files (``--formats csv json parquet``, the default) are orders exports
(``order_id``, ``customer_id``, ``ordered_at`` as ISO 8601 UTC with ``Z``,
``amount`` with two decimals, ``currency``), sorted by time as real exports are;
one order in a thousand is a refund (a negative amount), which ``rl.read``
rejects with its line.

Vendor exports (``--formats stripe cdnow``):

* ``stripe``: a Dashboard payments export (``unified_payments.csv``, the default
  23 columns), newest payment first as the Dashboard writes it, amounts of 1,000
  and more with a thousands separator (quoted); 1% failed, 0.5% fully refunded
  and 0.5% incomplete payments (no id), which the source rejects with their line;
  3% of the paid ones partially refunded (loaded net of the refund);
* ``cdnow``: a CDNOW master file (``customer YYYYMMDD cds dollars``,
  whitespace-aligned, CRLF line ends, no header) sorted by day; one line in a
  thousand has a day that is not a calendar day (``19970300``), rejected with its line.

* retainlib: ``rl.read(fmt, path)`` (full validation, rejects kept with their
  line and reason), then the orders collected;
* polars: the same file read and parsed to the same dtypes (timestamps to
  ``Datetime("us", "UTC")``, amounts to ``Decimal(38, 4)``, counts to ``Int64``),
  no checks: for ``stripe`` the columns the source reads (thousands separators
  removed before the decimal cast), for ``cdnow`` the lines split into their four
  fields by one regular expression.

Each case runs in a fresh process (its peak RSS is its own), polars and
retainlib in turn; the table shows the median, min and max seconds over the
repetitions, rows per second at the median, and the ratio to polars as the
median of the ratios of the runs made in turn (it holds when the shared
machine's speed drifts).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from benchmarks import _harness, _plugin_files

    from retainlib.tables import TableName
else:  # run as a script: this folder is on sys.path
    import _harness
    import _plugin_files

HERE = Path(__file__).resolve().parent
#: The canonical formats (the default cases) and the vendor exports read by plugins.
CANONICAL = ("csv", "json", "parquet")
VENDORS = ("stripe", "cdnow", "shopify", "mixpanel", *_plugin_files.EVENT_FORMATS)
FORMATS = (*CANONICAL, *VENDORS)
SUFFIX = {"csv": "csv", "json": "jsonl", "parquet": "parquet"}
FILES = {
    **{fmt: f"orders.{suffix}" for fmt, suffix in SUFFIX.items()},
    "stripe": "unified_payments.csv",
    "cdnow": "CDNOW_master.txt",
    "shopify": "orders_export_1.csv",
    "mixpanel": "mixpanel_export.jsonl",
    **_plugin_files.EVENT_FILES,
}
#: The table each source's rows go to (the others: orders).
TABLE: dict[str, TableName] = {"mixpanel": "events", **dict.fromkeys(_plugin_files.EVENT_FORMATS, "events")}
MONEY = pl.Decimal(38, 4)
STAMP = pl.Datetime("us", "UTC")
#: One order in this many is a refund (negative amount): rejected by retainlib, parsed by polars.
REFUND_EVERY = 1000


def orders_frame(rows: int, seed: int = 0) -> pl.DataFrame:
    """A canonical orders table as text, sorted by time (vectorised)."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(1_640_995_200, 1_735_689_600, rows))
    cents = rng.integers(100, 50_000, rows)
    cents[::REFUND_EVERY] *= -1
    units, rest = pl.Series(np.abs(cents) // 100), pl.Series(np.abs(cents) % 100)
    sign = pl.Series(np.where(cents < 0, "-", ""))
    return pl.DataFrame(
        {
            "order_id": "o" + pl.Series(np.arange(rows)).cast(pl.String),
            "customer_id": "c" + pl.Series(rng.integers(0, max(rows // 4, 1), rows)).cast(pl.String),
            "ordered_at": pl.from_epoch(pl.Series(seconds), time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "amount": sign + units.cast(pl.String) + "." + rest.cast(pl.String).str.zfill(2),
            "currency": pl.Series(rng.choice(["USD", "EUR"], rows, p=[0.9, 0.1])),
        }
    )


def write(folder: Path, rows: int, formats: Sequence[str] = CANONICAL) -> dict[str, Path]:
    """The files of ``formats`` in ``folder``: the same canonical orders as ``orders.csv``, ``orders.jsonl`` and
    ``orders.parquet`` (canonical dtypes), a Stripe payments export, a CDNOW master file; each of ``rows`` rows.

    A file already there is kept (``--data``: generated once).
    """
    paths = {fmt: folder / FILES[fmt] for fmt in formats}
    todo = [fmt for fmt in formats if not paths[fmt].exists()]
    if set(todo) & set(CANONICAL):
        frame = orders_frame(rows)
        if "csv" in todo:
            frame.write_csv(paths["csv"])
        if "json" in todo:
            frame.write_ndjson(paths["json"])
        if "parquet" in todo:
            frame.with_columns(_parsed()).write_parquet(paths["parquet"])
    if "stripe" in todo:
        stripe_frame(rows).write_csv(paths["stripe"])
    if "cdnow" in todo:
        cdnow_lines(rows).to_frame().write_csv(
            paths["cdnow"], include_header=False, quote_style="never", line_terminator="\r\n"
        )
    if "shopify" in todo:
        _plugin_files.write_shopify(folder, rows)
    if "mixpanel" in todo:
        _plugin_files.write_mixpanel(folder, rows)
    for fmt in set(todo) & set(_plugin_files.EVENT_FORMATS):
        _plugin_files.write_events(folder, rows, fmt)
    return paths


# --- vendor exports ---------------------------------------------------------------------------------------------

#: The default columns of the Dashboard payments export.
STRIPE_HEADER = (
    "id",
    "Created date (UTC)",
    "Amount",
    "Amount Refunded",
    "Currency",
    "Captured",
    "Converted Amount",
    "Converted Amount Refunded",
    "Converted Currency",
    "Decline Reason",
    "Description",
    "Fee",
    "Refunded date (UTC)",
    "Statement Descriptor",
    "Status",
    "Seller Message",
    "Taxes On Fee",
    "Card ID",
    "Customer ID",
    "Customer Description",
    "Customer Email",
    "Invoice ID",
    "Transfer",
)
#: Shares of payments that failed, were fully refunded, or never completed (no id): all rejected by the source.
STRIPE_FAILED, STRIPE_REFUNDED, STRIPE_INCOMPLETE = 0.01, 0.005, 0.005
#: Share of paid payments partially refunded (loaded, net of the refund).
STRIPE_PARTIAL = 0.03
#: One CDNOW line in this many has a day that is not a calendar day (rejected).
CDNOW_BAD_DAY_EVERY = 1000
_FIRST, _LAST = 1_640_995_200, 1_735_689_600  # 2022-01-01 .. 2025-01-01 UTC


def _money_text(cents: np.ndarray) -> pl.Series:
    """Amounts in major units as the Dashboard writes them: ``12.50``, ``1,250.00``."""
    units, rest = pl.Series(cents // 100), pl.Series(cents % 100).cast(pl.String).str.zfill(2)
    grouped = (units // 1000).cast(pl.String) + "," + (units % 1000).cast(pl.String).str.zfill(3)
    whole = pl.select(pl.when(units >= 1000).then(grouped).otherwise(units.cast(pl.String))).to_series()
    return whole + "." + rest


def stripe_frame(rows: int, seed: int = 0) -> pl.DataFrame:
    """A Dashboard payments export as text, newest payment first (vectorised)."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(_FIRST, _LAST, rows))[::-1]
    draw = rng.random(rows)
    failed = draw < STRIPE_FAILED
    refunded = (draw >= STRIPE_FAILED) & (draw < STRIPE_FAILED + STRIPE_REFUNDED)
    incomplete = (draw >= STRIPE_FAILED + STRIPE_REFUNDED) & (
        draw < STRIPE_FAILED + STRIPE_REFUNDED + STRIPE_INCOMPLETE
    )
    paid = ~(failed | refunded | incomplete)
    partial = paid & (rng.random(rows) < STRIPE_PARTIAL)
    # Most payments under 1,000; one in fifty above (written with a thousands separator).
    cents = np.where(rng.random(rows) < 0.02, rng.integers(100_000, 2_500_000, rows), rng.integers(500, 50_000, rows))
    back = np.where(refunded, cents, np.where(partial, cents // 4, 0))
    customer = rng.integers(0, max(rows // 4, 1), rows)
    amount, refund = _money_text(cents), _money_text(back)
    currency = pl.Series(rng.choice(["usd", "eur", "gbp"], rows, p=[0.9, 0.06, 0.04]))
    status = pl.Series(np.where(failed, "Failed", np.where(refunded, "Refunded", "Paid")))
    status = pl.select(
        pl.when(pl.Series(incomplete)).then(pl.lit("requires_payment_method")).otherwise(status)
    ).to_series()
    text = {
        "id": "ch_3" + pl.Series(np.arange(rows)).cast(pl.String).str.zfill(23),
        "Created date (UTC)": pl.from_epoch(pl.Series(seconds), time_unit="s").dt.strftime("%Y-%m-%d %H:%M:%S"),
        "Amount": amount,
        "Amount Refunded": refund,
        "Currency": currency,
        "Captured": pl.Series(np.where(failed, "false", "true")),
        "Converted Amount": amount,
        "Converted Amount Refunded": refund,
        "Converted Currency": currency,
        "Decline Reason": pl.Series(np.where(failed, "do_not_honor", "")).replace("", None),
        "Description": pl.Series(rng.choice(["Subscription creation", "Subscription update"], rows)),
        "Fee": _money_text(cents * 29 // 1000 + 30),
        "Status": status,
        "Seller Message": pl.Series(
            np.where(failed, "The bank did not return any further details.", "Payment complete.")
        ),
        "Taxes On Fee": pl.Series(np.full(rows, "0.00")),
        "Customer ID": "cus_" + pl.Series(customer).cast(pl.String).str.zfill(14),
        "Customer Email": "user_" + pl.Series(customer).cast(pl.String) + "@example.com",
        "Invoice ID": "in_1" + pl.Series(np.arange(rows)).cast(pl.String).str.zfill(23),
    }
    frame = pl.DataFrame(text).with_columns(
        *(pl.lit(None, pl.String).alias(c) for c in STRIPE_HEADER if c not in text),
    )
    # An incomplete payment has no charge: no id, no refund figures, no capture flag, no converted amounts.
    blank = pl.Series(incomplete)
    cleared = [
        "id",
        "Amount Refunded",
        "Captured",
        "Converted Amount",
        "Converted Amount Refunded",
        "Converted Currency",
        "Fee",
        "Taxes On Fee",
        "Seller Message",
        "Invoice ID",
    ]
    return frame.with_columns(pl.when(blank).then(None).otherwise(pl.col(c)).alias(c) for c in cleared).select(
        STRIPE_HEADER
    )


def cdnow_lines(rows: int, seed: int = 0) -> pl.Series:
    """The lines of a CDNOW master file (`` 00001 19970101  1   11.77``), sorted by day (vectorised)."""
    rng = np.random.default_rng(seed)
    days = np.sort(rng.integers(0, 546, rows))  # 1997-01-01 .. 1998-06-30, as the original
    customers = rng.integers(1, max(rows // 3, 2), rows)
    width = max(5, len(str(rows // 3)))
    cds = rng.integers(1, 10, rows)
    cents = cds * rng.integers(900, 1600, rows)
    date = pl.Series(days).cast(pl.Date).dt.offset_by("27y").dt.strftime("%Y%m%d")  # 1970 + 27 years: 1997
    # One line in CDNOW_BAD_DAY_EVERY names day 00 of its month: not a calendar day.
    bad = pl.Series(np.arange(rows) % CDNOW_BAD_DAY_EVERY == CDNOW_BAD_DAY_EVERY // 2)
    date = pl.select(pl.when(bad).then(date.str.slice(0, 6) + "00").otherwise(date)).to_series()
    dollars = pl.Series(cents // 100).cast(pl.String) + "." + pl.Series(cents % 100).cast(pl.String).str.zfill(2)
    return (
        " "
        + pl.Series(customers).cast(pl.String).str.zfill(width)
        + " "
        + date
        + " "
        + pl.Series(cds).cast(pl.String).str.pad_start(2)
        + " "
        + dollars.str.pad_start(7)
    ).alias("line")


def _parsed() -> list[pl.Expr]:
    return [
        pl.col("ordered_at").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_unit="us").dt.replace_time_zone("UTC"),
        pl.col("amount").cast(MONEY),
    ]


def polars_read(fmt: str, path: Path) -> pl.DataFrame:
    """Polars' own reader on the same file, to the same dtypes (no checks)."""
    if fmt == "shopify":
        return _plugin_files.shopify_polars(path)
    if fmt == "mixpanel":
        return _plugin_files.mixpanel_polars(path)
    if fmt in _plugin_files.EVENT_FORMATS:
        return _plugin_files.events_polars(fmt, path)
    if fmt == "stripe":
        return _stripe_polars(path)
    if fmt == "cdnow":
        return _cdnow_polars(path)
    if fmt == "parquet":
        return pl.read_parquet(path)
    if fmt == "csv":
        frame = pl.scan_csv(path, infer_schema=False)
    else:
        frame = pl.scan_ndjson(path, schema=dict.fromkeys(orders_frame(1).columns, pl.String))
    return frame.with_columns(_parsed()).collect()


def _stripe_polars(path: Path) -> pl.DataFrame:
    """The payments export's columns that the ``stripe`` source reads, parsed (amounts without their separators)."""

    def money(column: str) -> pl.Expr:
        return pl.col(column).str.replace_all(",", "", literal=True).cast(MONEY)

    return (
        pl.scan_csv(path, infer_schema=False)
        .select(
            pl.col("id").alias("order_id"),
            pl.col("Customer ID").alias("customer_id"),
            pl.col("Created date (UTC)")
            .str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us", time_zone="UTC")
            .alias("ordered_at"),
            money("Amount").alias("amount"),
            money("Amount Refunded").alias("refunded"),
            pl.col("Currency").str.to_uppercase().alias("currency"),
            pl.col("Status"),
            pl.col("Captured"),
            pl.col("Customer Email"),
        )
        .collect()
    )


def _cdnow_polars(path: Path) -> pl.DataFrame:
    """The master file's lines split into their four fields and parsed (an impossible day becomes null)."""
    lines = pl.scan_csv(
        path, has_header=False, separator="\x1f", quote_char=None, infer_schema=False, new_columns=["line"]
    )
    # Split at runs of spaces, what the file holds (a pattern with \s for any white space takes twice as long).
    fields = pl.col("line").str.extract_groups(r"^ *(\S+) +(\S+) +(\S+) +(\S+) *$")
    return (
        lines.select(fields.struct.rename_fields(["customer_id", "day", "quantity", "amount"]).struct.unnest())
        .select(
            pl.col("customer_id"),
            pl.col("day").str.to_date("%Y%m%d", strict=False).cast(STAMP).alias("ordered_at"),
            pl.col("quantity").cast(pl.Int64),
            pl.col("amount").cast(MONEY),
        )
        .collect()
    )


def one(fmt: str, library: str, path: Path) -> dict[str, Any]:
    """One timed read in this process: seconds, peak RSS, rows loaded and rejected."""
    source = _plugin_files.SOURCE.get(fmt, fmt)
    if library.startswith("retainlib"):
        import retainlib as rl  # imported before the clock starts: reading is timed, not the import
        from retainlib._read import host_for

        # The source's own modules too (a host is built on first use and imports them): not counted either.
        host_for(source, [path])
    started = time.perf_counter()
    if library == "polars":
        frame = polars_read(fmt, path)
        rejected = 0
    elif library == "retainlib-stream":  # rl.read_to_parquet (streamed); the rows written counted, not held
        with tempfile.TemporaryDirectory() as out:
            ds = rl.read_to_parquet(source, path, out=Path(out) / "dataset")
            table = ds.require(TABLE.get(fmt, "orders"))
            seconds = time.perf_counter() - started
            assert ds.report is not None and table.collect_schema().len() > 0
            loaded = int(table.select(pl.len()).collect().item())
            return {
                "seconds": seconds,
                "peak_mib": _harness.peak_mib(),
                "loaded": loaded,
                "rejected": ds.report.rows_rejected,
            }
    else:
        ds = rl.read(source, path)
        frame = ds.require(TABLE.get(fmt, "orders")).collect()
        assert ds.report is not None
        rejected = ds.report.rows_rejected
    seconds = time.perf_counter() - started
    if TABLE.get(fmt) == "events":
        assert frame.schema["occurred_at"] == STAMP
    elif fmt != "shopify" or library == "retainlib":  # polars leaves the export's own column names
        assert frame.schema["ordered_at"] == STAMP and frame.schema["amount"] == MONEY
    return {"seconds": seconds, "peak_mib": _harness.peak_mib(), "loaded": frame.height, "rejected": rejected}


def _label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows:,}"


def _row(
    rows: int, fmt: str, path: Path, library: str, runs: list[dict[str, Any]], baseline: list[dict[str, Any]]
) -> str:
    """A table row: the library's median, min and max seconds, rows/s at the median, peak RSS, and its
    ratio to polars (the median of the ratios of runs made in turn)."""
    if not runs:  # --repeat 0: the files written, nothing timed
        return f"| {_label(rows)} | {fmt} | {path.stat().st_size / 2**20:,.0f} | {library} | not run | | | | | | | |"
    failed = [r["status"] for r in runs if r["status"] != "ok"]
    if failed:
        return f"| {_label(rows)} | {fmt} | | {library} | {failed[0]} | | | | | | | |"
    med, low, high = _harness.spread([r["seconds"] for r in runs])
    pairs = [r["seconds"] / b["seconds"] for r, b in zip(runs, baseline, strict=True) if b["status"] == "ok"]
    ratio = f"{statistics.median(pairs):.2f}x" if pairs else ""
    return (
        f"| {_label(rows)} | {fmt} | {path.stat().st_size / 2**20:,.0f} | {library} | "
        f"{runs[0]['loaded']:,} | {runs[0]['rejected']:,} | {med:.2f} | {low:.2f} | {high:.2f} | "
        f"{rows / med:,.0f} | {max(r['peak_mib'] for r in runs):,.0f} | {ratio} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--large", action="store_true", help="also 10M rows")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--formats",
        nargs="+",
        choices=FORMATS,
        default=list(CANONICAL),
        help="canonical csv, json, parquet (the default) and the vendor exports stripe, cdnow",
    )
    parser.add_argument("--data", type=Path, help="keep the generated files in DATA/<rows>/ (reused when present)")
    parser.add_argument("--out", type=Path, default=HERE / "results-read.md")
    parser.add_argument("--one", nargs=3, metavar=("FORMAT", "LIBRARY", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        fmt, library, path = args.one
        print(json.dumps(one(fmt, library, Path(path))))
        return
    sizes = [args.rows, *([10_000_000] if args.large else [])]
    lines = [
        "# Reading orders files: retainlib beside polars",
        "",
        f"Machine: {_harness.machine()}; {_harness.versions(['polars', 'retainlib'])}; {_harness.today()}; "
        f"load {_harness.loadavg()} at the start.",
        "",
        "| rows | format | MiB | library | loaded | rejected | median s | min s | max s | rows/s | peak RSS MiB "
        "| ratio |",
        "| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rows in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) if args.data is None else args.data / _label(rows).replace(",", "")
            folder.mkdir(parents=True, exist_ok=True)
            paths = write(folder, rows, args.formats)
            for fmt in args.formats:
                # The libraries take turns (polars, retainlib, polars, ...): the ratio is taken pair by pair,
                # so that it holds when the machine's speed drifts during the runs.
                runs: dict[str, list[dict[str, Any]]] = {"polars": [], "retainlib": []}
                for _ in range(args.repeat):
                    for library, done in runs.items():
                        command = [sys.executable, __file__, "--one", fmt, library, str(paths[fmt])]
                        done.append(_harness.run_fresh(command, timeout=1800))
                for library, done in runs.items():
                    lines.append(_row(rows, fmt, paths[fmt], library, done, runs["polars"]))
                    print(lines[-1], flush=True)
    lines += ["", f"Load at the end: {_harness.loadavg()}."]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
