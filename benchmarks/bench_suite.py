"""The benchmark suite: every retainlib kernel beside its competitor, at 1M, 10M (and 100M) orders.

Run by hand, from the repository root (the ``bench`` group holds lifetimes and PyMC-Marketing)::

    python3 -m uv run --group bench --all-packages python benchmarks/bench_suite.py \\
        --sizes 1M 10M --repeat 3 --json benchmarks/results.json
    python3 -m uv run --group bench --all-packages python benchmarks/bench_suite.py --quick --out /tmp/r.md

Data: the synthetic store (``retainlib.samples.write_synthetic_parquet``, seed 1)
cached as Parquet under ``benchmarks/data/store-<size>/`` (generated when missing).

Cases (each library in the same run):

* ``floor``: one lazy scan of the orders with a single ``group_by(customer_id)`` of
  len / min / max / sum, the practical limit of a one-pass kernel;
* ``rfm``: ``rl.rfm`` vs lifetimes ``summary_data_from_transaction_data`` and
  PyMC-Marketing ``rfm_summary``;
* ``cohort_customers`` / ``cohort_revenue``: ``rl.cohort_retention`` (measure customers,
  revenue) vs the pandas idiom; ``retention_rate`` and ``repeat_purchase_rate`` vs pandas;
* ``repeat_within`` (``rl.repeat_purchase_rate(within=3)``) and ``returning_customer_rate``:
  retainlib only, for their ratio to the floor;
* ``mrr_movements`` on the subscriptions table vs a pandas month-snapshot idiom;
* ``survival``: ``rl.survival`` of the orders (90-day inactivity window) vs lifelines
  ``KaplanMeierFitter`` on the same lifetimes computed with pandas;
* ``clv``: BG/NBD + Gamma-Gamma fit and 12-month CLV on the RFM (weeks) of the 10M-order
  store, with ``bench_clv.py``'s functions, vs lifetimes and PyMC-Marketing (MAP).

Each case runs in a fresh process per repetition (its own peak RSS, ``VmHWM``);
the libraries take turns.  Timed: for polars, from ``pl.scan_parquet`` of the folder to the
collected result (``--engine`` for the collect and the kernels' own pre-passes); for the
pandas-based competitors, from ``pd.read_parquet`` of the needed columns (read timed
separately, reported as "of which read") to the result.  A case that
does not finish in ``--timeout`` seconds (10 min) is recorded as such.  Before timing, the
competitors' numbers are checked against retainlib's once, at the smallest size.

Writes ``benchmarks/results.md`` (``--out``) and, with ``--json``, the raw numbers.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    from benchmarks import _competitors, _harness, bench_clv
else:  # run as a script: this folder is on sys.path
    import _competitors
    import _harness
    import bench_clv

HERE = Path(__file__).resolve().parent
#: Customers per store size (about 3.54 orders per customer).
SIZES = {"20K": 20_000, "1M": 283_000, "10M": 2_850_000, "100M": 28_300_000}
QUICK_SIZE = "20K"
SEED = 1
WINDOW_DAYS = 90
#: The repeat_within case: share of each monthly cohort ordering again within this many months.
REPEAT_WITHIN = 3
#: case -> libraries, retainlib (or polars for the floor) first.
CASES: dict[str, tuple[str, ...]] = {
    "floor": ("polars",),
    "rfm": ("retainlib", "lifetimes", "pymc-marketing"),
    "cohort_customers": ("retainlib", "pandas"),
    "cohort_revenue": ("retainlib", "pandas"),
    "retention_rate": ("retainlib", "pandas"),
    "repeat_purchase_rate": ("retainlib", "pandas"),
    "repeat_within": ("retainlib",),
    "returning_customer_rate": ("retainlib",),
    "mrr_movements": ("retainlib", "pandas"),
    "survival": ("retainlib", "lifelines"),
    "clv": ("retainlib", "lifetimes", "pymc-marketing"),
}
#: Every library of the cases, in order of first appearance.
LIBRARIES = tuple(dict.fromkeys(lib for libs in CASES.values() for lib in libs))
#: The steps of the clv case reported as rows.
CLV_STEPS = ("bgnbd_fit", "gamma_gamma_fit", "clv_12m")
#: The module each competitor needs.
MODULES = {
    "pandas": "pandas",
    "lifetimes": "lifetimes",
    "pymc-marketing": "pymc_marketing",
    "lifelines": "lifelines",
}
VERSIONS = ("polars", "pandas", "pyarrow", "numpy", "lifetimes", "pymc-marketing", "lifelines")


# ----------------------------------------------------------------------------- one case
def _orders(folder: Path) -> pl.LazyFrame:
    import polars as pl

    return pl.scan_parquet(str(folder / "orders" / "*.parquet"))


def _kernel(fn: Callable[..., Any], data: pl.LazyFrame, engine: str, **options: Any) -> Any:
    """The kernel's lazy result; ``engine`` goes to the kernels that take it (their pre-passes use it)."""
    if "engine" in inspect.signature(fn).parameters:
        options["engine"] = engine
    return fn(data, **options)


def _polars_case(case: str, folder: Path, engine: Any) -> int:
    """One polars / retainlib case from the lazy scan to the collected result; returns its rows."""
    import polars as pl

    import retainlib as rl

    query: pl.LazyFrame
    if case == "floor":
        query = (
            _orders(folder)
            .group_by("customer_id")
            .agg(
                pl.len(),
                pl.col("ordered_at").min().alias("first"),
                pl.col("ordered_at").max().alias("last"),
                pl.col("amount").sum(),
            )
        )
    elif case == "rfm":
        query = _kernel(rl.rfm, _orders(folder), engine)
    elif case in ("cohort_customers", "cohort_revenue"):
        measure = "customers" if case == "cohort_customers" else "revenue"
        query = _kernel(rl.cohort_retention, _orders(folder), engine, measure=measure)
    elif case == "retention_rate":
        query = _kernel(rl.retention_rate, _orders(folder), engine)
    elif case == "repeat_purchase_rate":
        query = _kernel(rl.repeat_purchase_rate, _orders(folder), engine)
    elif case == "repeat_within":
        query = _kernel(rl.repeat_purchase_rate, _orders(folder), engine, within=REPEAT_WITHIN)
    elif case == "returning_customer_rate":
        query = _kernel(rl.returning_customer_rate, _orders(folder), engine)
    elif case == "mrr_movements":
        query = _kernel(rl.mrr_movements, pl.scan_parquet(str(folder / "subscriptions" / "*.parquet")), engine)
    elif case == "survival":
        query = _kernel(rl.survival, _orders(folder), engine, window=WINDOW_DAYS)
    else:
        raise ValueError(case)
    return query.collect(engine=engine).height


def _pandas_case(case: str, library: str, folder: Path) -> tuple[float, int]:
    """One pandas-based competitor: (seconds of the read, rows of the result); the read is timed inside."""
    c = _competitors
    started = time.perf_counter()
    df = c.read_subscriptions(folder) if case == "mrr_movements" else c.read_orders(folder)
    read = time.perf_counter() - started
    result: Any
    if case == "rfm":
        result = c.lifetimes_rfm(df) if library == "lifetimes" else c.pymc_rfm(df)
    elif case in ("cohort_customers", "cohort_revenue"):
        result = c.cohort_retention(df, "customers" if case == "cohort_customers" else "revenue")
    elif case == "retention_rate":
        result = c.retention_rate(df)
    elif case == "repeat_purchase_rate":
        result = [c.repeat_purchase_rate(df)]
    elif case == "mrr_movements":
        result = c.mrr_movements(df)
    elif case == "survival":
        result = c.kaplan_meier(df, WINDOW_DAYS).survival_function_
    else:
        raise ValueError(case)
    return read, len(result)


def _clv_case(library: str, rfm_path: Path) -> dict[str, Any]:
    """bench_clv.py's runner for the library on the cached RFM (weeks); times of the reported steps."""
    import numpy as np
    import polars as pl

    frame = pl.read_parquet(rfm_path)
    cols = {
        "customer_id": np.arange(frame.height, dtype=np.int64),
        **{k: frame[k].cast(pl.Float64).to_numpy() for k in ("frequency", "recency", "T", "monetary_value")},
    }
    runner = {"retainlib": bench_clv._run_retainlib, "lifetimes": bench_clv._run_lifetimes}.get(
        library, bench_clv._run_pymc
    )
    out = runner(cols)
    fit_bg, fit_gg, _, _, clv = out["times"]
    return {
        "parts": dict(zip(CLV_STEPS, (fit_bg, fit_gg, clv), strict=True)),
        "seconds": fit_bg + fit_gg + clv,
        "r": out["bg"]["r"],
        "clv_sum": float(np.sum(out["preds"][2])),
    }


def run_one(case: str, library: str, folder: Path, engine: str) -> dict[str, Any]:
    """One case for one library in this process: seconds, read seconds, rows, peak RSS (MiB)."""
    warnings.filterwarnings("ignore")  # lifetimes / PyMC-Marketing / lifelines under pandas 3: benchmark only
    if case == "clv":
        return {**_clv_case(library, folder), "peak_mib": _harness.peak_mib()}
    if library in MODULES:
        __import__(MODULES[library])  # imports are not timed
        started = time.perf_counter()
        read, rows = _pandas_case(case, library, folder)
    else:
        import polars  # noqa: F401

        import retainlib  # noqa: F401

        started, read = time.perf_counter(), 0.0
        rows = _polars_case(case, folder, engine)
    return {
        "seconds": time.perf_counter() - started,
        "read": read,
        "rows": rows,
        "peak_mib": _harness.peak_mib(),
    }


# ----------------------------------------------------------------------------- data
def store(data_dir: Path, size: str, order: str = "customer") -> Path:
    """The cached synthetic store of that size, written when missing.

    ``order="customer"``: as generated, each customer's orders together.  ``"time"``: the
    same orders sorted by ``ordered_at``, as exports from a shop or a billing system come
    (``store-<size>-bytime``; the subscriptions sorted by ``started_at``, the other tables copied as they are).
    """
    from retainlib.samples import write_synthetic_parquet

    folder = data_dir / f"store-{size}"
    if not (folder / "retainlib.json").exists():
        started = time.perf_counter()
        write_synthetic_parquet(folder, SIZES[size], seed=SEED)
        print(f"wrote {folder} in {time.perf_counter() - started:.1f} s", flush=True)
    if order == "customer":
        return folder
    return _harness.time_ordered(folder, data_dir / f"store-{size}-bytime")


def rfm_weeks(data_dir: Path, size: str) -> Path:
    """The RFM (days / 7, lifetimes' convention for weeks) of that store, computed with rl.rfm and cached."""
    import retainlib as rl

    path = data_dir / f"rfm-weeks-{size}.parquet"
    if not path.exists():
        rl.rfm(_orders(store(data_dir, size)), freq="D", freq_multiplier=7).collect().write_parquet(path)
    return path


def _count(source: Path | str) -> int:
    """Rows of a Parquet file or glob."""
    import polars as pl

    return int(pl.scan_parquet(str(source)).select(pl.len()).collect().item())


# ----------------------------------------------------------------------------- agreement
def _max_diff(a: Any, b: Any) -> float:
    import numpy as np

    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)), initial=0.0))


def _cohort_check(rl_out: pl.DataFrame, counts: pd.DataFrame, value: str) -> str:
    import polars as pl

    long = counts.melt(ignore_index=False, var_name="period_number", value_name="pandas").dropna().reset_index()
    long["cohort"] = long["cohort"].dt.start_time.dt.date
    theirs = pl.from_pandas(long).with_columns(pl.col("period_number").cast(pl.Int64))
    ours = rl_out.select("cohort", "period_number", pl.col(value).cast(pl.Float64).alias("retainlib"))
    joined = ours.join(theirs, on=["cohort", "period_number"], how="full", coalesce=True).fill_null(0.0)
    sizes = rl_out.filter(pl.col("period_number") == 0)["cohort_size"].to_list()
    diff = _max_diff(joined["retainlib"], joined["pandas"])
    same = f", cohort sizes equal: {sizes == counts[0].astype(int).tolist()}" if value == "active" else ""
    return f"{joined.height} cells{same}, max abs Δ {value} = {diff:.3g}"


def check_agreement(folder: Path) -> list[tuple[str, str]]:
    """Compare each competitor's numbers with retainlib's, once, outside the timing."""
    import polars as pl

    import retainlib as rl

    c = _competitors
    warnings.filterwarnings("ignore")
    orders, df = _orders(folder), c.read_orders(folder)
    out: list[tuple[str, str]] = []

    def check(name: str, fn: Callable[[], str]) -> None:
        try:
            out.append((name, fn()))
        except Exception as exc:  # a competitor missing or failing: said in the results, not fatal
            out.append((name, f"not checked: {type(exc).__name__}: {str(exc)[:120]}"))

    def rfm(library: str) -> str:
        ours = rl.rfm(orders).collect().sort("customer_id")
        theirs = (c.lifetimes_rfm(df) if library == "lifetimes" else c.pymc_rfm(df)).sort_index()
        if "customer_id" in theirs.columns:
            theirs = theirs.set_index("customer_id").sort_index()
        same_ids = ours["customer_id"].to_list() == theirs.index.astype(str).tolist()
        diffs = ", ".join(f"{k} {_max_diff(ours[k], theirs[k]):.3g}" for k in ("frequency", "recency", "T"))
        money = _max_diff(ours["monetary_value"], theirs["monetary_value"])
        return f"{ours.height} customers, same ids: {same_ids}; max abs Δ: {diffs}, monetary_value {money:.3g}"

    check("rfm vs lifetimes", lambda: rfm("lifetimes"))
    check("rfm vs pymc-marketing", lambda: rfm("pymc-marketing"))
    check(
        "cohort_customers vs pandas",
        lambda: _cohort_check(rl.cohort_retention(orders).collect(), c.cohort_counts(df, "customers"), "active"),
    )
    check(
        "cohort_revenue vs pandas",
        lambda: _cohort_check(
            rl.cohort_retention(orders, measure="revenue").collect(), c.cohort_counts(df, "revenue"), "revenue"
        ),
    )

    def retention() -> str:
        ours, theirs = rl.retention_rate(orders).collect(), c.retention_rate(df)
        cols = ("start", "new", "retained", "end")
        diffs = ", ".join(f"{k} {_max_diff(ours[k], theirs[k]):.3g}" for k in cols)
        return f"{ours.height} periods (pandas {len(theirs)}); max abs Δ: {diffs}"

    def repeat() -> str:
        ours, theirs = rl.repeat_purchase_rate(orders).collect().row(0, named=True), c.repeat_purchase_rate(df)
        return ", ".join(f"{k} {ours[k]} vs {theirs[k]}" for k in ("customers", "repeat_customers"))

    def mrr() -> str:
        ours = rl.mrr_movements(pl.scan_parquet(str(folder / "subscriptions" / "*.parquet"))).collect()
        theirs = c.mrr_movements(c.read_subscriptions(folder))
        cols = ("mrr_start", "new", "reactivation", "expansion", "contraction", "churn", "mrr_end")
        diffs = ", ".join(f"{k} {_max_diff(ours[k].cast(pl.Float64), theirs[k]):.3g}" for k in cols)
        return f"{ours.height} periods (pandas {len(theirs)}); max abs Δ (money): {diffs}"

    def survival() -> str:
        ours = rl.survival(orders, window=WINDOW_DAYS).collect()
        fitted = c.kaplan_meier(df, WINDOW_DAYS)
        times = [30.0, 90.0, 180.0, 365.0, 730.0]
        mine = [ours.filter(pl.col("time") <= t)["survival"][-1] for t in times]
        theirs = fitted.survival_function_at_times(times).to_numpy()
        return f"S(t) at t = 30, 90, 180, 365, 730 days: max abs Δ = {_max_diff(mine, theirs):.3g}"

    check("retention_rate vs pandas", retention)
    check("repeat_purchase_rate vs pandas", repeat)
    check("mrr_movements vs pandas", mrr)
    check("survival vs lifelines", survival)
    return out


# ----------------------------------------------------------------------------- driver
def _installed(library: str) -> bool:
    module = MODULES.get(library)
    return module is None or importlib.util.find_spec(module) is not None


def _rounds(
    jobs: list[tuple[str, str]], target: Path, args: argparse.Namespace, skip: dict[tuple[str, str], str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Each (case, library) ``--repeat`` times in fresh processes, round-robin; a failed one is not run again."""
    results: dict[tuple[str, str], dict[str, Any]] = {job: {"runs": [], "status": "ok"} for job in jobs}
    for job in jobs:
        if not _installed(job[1]):
            results[job]["status"] = "not installed"
        elif job in skip:
            results[job]["status"] = skip[job]
    for rep in range(args.repeat):
        for case, library in jobs:
            res = results[case, library]
            if res["status"] != "ok":
                continue
            cmd = [sys.executable, str(Path(__file__).resolve()), "--one", case, library, str(target), args.engine]
            run = _harness.run_fresh(cmd, args.timeout)
            print(f"{target.name} {case} {library} run {rep + 1}: {json.dumps(run)}", flush=True)
            if run["status"] == "ok":
                res["runs"].append(run)
            else:
                res["status"] = run["status"]
    return results


def _stats(res: dict[str, Any], key: str = "seconds", part: str | None = None) -> tuple[float, float, float] | None:
    runs = res["runs"]
    if not runs:
        return None
    return _harness.spread([r["parts"][part] if part else r[key] for r in runs])


def _status_cell(res: dict[str, Any], repeat: int) -> str:
    if res["status"] == "ok":
        return ""
    return res["status"] if not res["runs"] else f"{len(res['runs'])} of {repeat} runs, then {res['status']}"


def _size_table(size: str, results: dict[tuple[str, str], dict[str, Any]], repeat: int) -> list[str]:
    floor = _stats(results["floor", "polars"]) if ("floor", "polars") in results else None
    lines = [
        "| case | library | median s | min s | max s | of which read s | peak RSS MiB | ratio to floor "
        "| retainlib's speed-up |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for (case, library), res in results.items():
        stats = _stats(res)
        if stats is None:
            lines.append(f"| {case} | {library} | {_status_cell(res, repeat)} | | | | | | |")
            continue
        med, lo, hi = stats
        read = _stats(res, "read")
        read_cell = f"{read[0]:.3g}" if read and read[0] > 0 else ""
        ratio, speedups = "", []
        if library == "retainlib":
            ratio = f"{med / floor[0]:.2f}" if floor and case != "mrr_movements" else ""  # mrr: other table
            for (other_case, other), other_res in results.items():
                other_stats = _stats(other_res)
                if other_case == case and other != library and other_stats:
                    speedups.append(f"{other_stats[0] / med:.1f}x vs {other}")
        note = _status_cell(res, repeat)
        lines.append(
            f"| {case} | {library} | {med:.3g} | {lo:.3g} | {hi:.3g} | {read_cell} "
            f"| {max(r['peak_mib'] for r in res['runs']):,.0f} | {ratio} | {'; '.join(speedups)}"
            f"{(' (' + note + ')') if note else ''} |"
        )
    return lines


def _clv_table(res_by_lib: dict[str, dict[str, Any]], repeat: int) -> list[str]:
    lines = [
        "| step | library | median s | min s | max s | peak RSS MiB | retainlib's speed-up | BG/NBD r | Σ CLV |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for step in CLV_STEPS:
        ours = _stats(res_by_lib["retainlib"], part=step) if "retainlib" in res_by_lib else None
        for library, res in res_by_lib.items():
            stats = _stats(res, part=step)
            if stats is None:
                lines.append(f"| {step} | {library} | {_status_cell(res, repeat)} | | | | | | |")
                continue
            speedups = []
            if library == "retainlib":
                for other, other_res in res_by_lib.items():
                    other_stats = _stats(other_res, part=step)
                    if other != library and other_stats and ours:
                        speedups.append(f"{other_stats[0] / ours[0]:.1f}x vs {other}")
            first = res["runs"][0]
            r = f"{first['r']:.5g}" if step == "bgnbd_fit" else ""
            total = f"{first['clv_sum']:,.0f}" if step == "clv_12m" else ""
            lines.append(
                f"| {step} | {library} | {stats[0]:.3g} | {stats[1]:.3g} | {stats[2]:.3g} "
                f"| {max(r['peak_mib'] for r in res['runs']):,.0f} | {'; '.join(speedups)} | {r} | {total} |"
            )
    return lines


def _exponents(sizes: list[str], per_size: dict[str, Any], counts: dict[str, dict[str, int]]) -> list[str]:
    """log(t2 / t1) / log(n2 / n1) of each retainlib kernel (and the floor), smallest to largest size."""
    small, large = sizes[0], sizes[-1]
    lines = [
        f"| case | {small} s | {large} s | rows {small} | rows {large} | exponent |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case in CASES:
        if case == "clv":
            continue
        library = "polars" if case == "floor" else "retainlib"
        a = _stats(per_size[small].get((case, library), {"runs": []}))
        b = _stats(per_size[large].get((case, library), {"runs": []}))
        if not (a and b):
            continue
        table = "subscriptions" if case == "mrr_movements" else "orders"
        n1, n2 = counts[small][table], counts[large][table]
        exponent = math.log(b[0] / a[0]) / math.log(n2 / n1)
        lines.append(f"| {case} ({table}) | {a[0]:.3g} | {b[0]:.3g} | {n1:,} | {n2:,} | {exponent:.2f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["1M", "10M"], choices=list(SIZES), help="orders per store")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", default="in-memory", choices=["in-memory", "streaming", "auto"])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument(
        "--order",
        default="customer",
        choices=["customer", "time"],
        help="row order of the orders: as generated (each customer's together) or by time, as real exports",
    )
    parser.add_argument(
        "--libraries",
        nargs="+",
        default=list(LIBRARIES),
        choices=list(LIBRARIES),
        help="run only these libraries (the agreement checks need a competitor)",
    )
    parser.add_argument("--clv-size", default="10M", choices=list(SIZES), help="store whose RFM the clv case fits")
    parser.add_argument("--quick", action="store_true", help=f"one repetition at {QUICK_SIZE} customers (smoke test)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per case and library")
    parser.add_argument("--data-dir", type=Path, default=HERE / "data", help="where the stores are cached")
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    parser.add_argument("--json", type=Path, default=None, help="also dump the raw numbers here")
    parser.add_argument("--one", nargs=4, metavar=("CASE", "LIBRARY", "FOLDER", "ENGINE"), help=argparse.SUPPRESS)
    parser.add_argument("--check", type=Path, metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        print(json.dumps({"checks": check_agreement(args.check)}))
        return
    if args.one:
        case, library, folder, engine = args.one
        print(json.dumps(run_one(case, library, Path(folder), engine)))
        return
    if args.quick:
        args.sizes, args.repeat, args.clv_size = [QUICK_SIZE], 1, QUICK_SIZE
    sizes = sorted(set(args.sizes), key=lambda s: SIZES[s])
    started, load_start = _harness.today(), _harness.loadavg()
    args.data_dir.mkdir(parents=True, exist_ok=True)

    counts: dict[str, dict[str, int]] = {}
    per_size: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    gave_up: dict[tuple[str, str], str] = {}
    checks: list[tuple[str, str]] = []
    for size in sizes:
        folder = store(args.data_dir, size, args.order)
        counts[size] = {t: _count(folder / t / "*.parquet") for t in ("orders", "subscriptions")}
        if size == sizes[0] and set(args.libraries) <= {"polars", "retainlib"}:
            checks = [("all", "not run: no competitor among --libraries")]
        elif size == sizes[0]:  # in a fresh process too, so this driver stays small
            found = _harness.run_fresh([sys.executable, str(Path(__file__).resolve()), "--check", str(folder)], 3600)
            checks = [tuple(c) for c in found.get("checks", [])] or [("all", found["status"])]
            for name, verdict in checks:
                print(f"check {name}: {verdict}", flush=True)
        jobs = [(case, lib) for case in args.cases if case != "clv" for lib in CASES[case] if lib in args.libraries]
        per_size[size] = _rounds(jobs, folder, args, gave_up)
        for job, res in per_size[size].items():
            if res["status"].startswith("did not finish"):
                gave_up[job] = f"not run: {res['status']} at {size}"
    clv: dict[str, dict[str, Any]] = {}
    clv_rows = 0
    if "clv" in args.cases:
        rfm_path = rfm_weeks(args.data_dir, args.clv_size)
        clv_rows = _count(rfm_path)
        clv = {
            lib: res
            for (_, lib), res in _rounds(
                [("clv", lib) for lib in CASES["clv"] if lib in args.libraries], rfm_path, args, {}
            ).items()
        }

    command = "python3 -m uv run --group bench --all-packages python benchmarks/bench_suite.py"
    command += (
        " --quick"
        if args.quick
        else f" --sizes {' '.join(sizes)} --repeat {args.repeat} --engine {args.engine} --clv-size {args.clv_size}"
    )
    if args.order != "customer":
        command += f" --order {args.order}"
    if args.libraries != list(LIBRARIES):
        command += f" --libraries {' '.join(args.libraries)}"
    if args.cases != list(CASES):
        command += f" --cases {' '.join(args.cases)}"
    lines = [
        "# Benchmark suite: retainlib beside its competitors",
        "",
        f"Machine: {_harness.machine()}.",
        f"Versions: {_harness.versions(VERSIONS)}; polars engine `{args.engine}`.",
        f"Run {started} on {_harness.commit()}; load average (1/5/15 min) at start {load_start}, "
        f"at end {_harness.loadavg()} (the machine is shared: other jobs add noise, see min vs median).",
        "",
        f"Command: `{command}`",
        "",
        "Orders: "
        + (
            "sorted by time (`ordered_at`), as exported by a shop or a billing system."
            if args.order == "time"
            else "as generated, each customer's orders together (`--order time` sorts them by time)."
        ),
        "",
        "Every row is a fresh process per repetition (libraries taking turns); seconds are the median, min and max",
        f"over {args.repeat} repetition(s); peak RSS is the process's own high-water mark (`VmHWM`, imports included).",
        "",
        "* retainlib and polars rows: timed from `pl.scan_parquet` of the Parquet folder to the collected result",
        "  (`.collect(engine=...)`), so reading the Parquet files is included.",
        "* pandas, lifetimes, PyMC-Marketing and lifelines rows: timed from `pd.read_parquet` of the needed columns",
        "  (amounts cast to float64, timestamps made naive UTC) to the result; *of which read* is that read.",
        "* *ratio to floor*: retainlib's median over the floor's (one scan with one `group_by(customer_id)` of",
        "  len / min / max / sum).  *speed-up*: the competitor's median over retainlib's, both with the read.",
        "",
    ]
    for size in sizes:
        n = counts[size]
        lines += [
            f"## {size}: {n['orders']:,} orders, {n['subscriptions']:,} subscriptions ({SIZES[size]:,} customers)",
            "",
            *_size_table(size, per_size[size], args.repeat),
            "",
        ]
    if len(sizes) > 1:
        lines += [
            f"## Scaling from {sizes[0]} to {sizes[-1]}",
            "",
            "Exponent = log(t2 / t1) / log(n2 / n1) of the medians (1 = linear in rows).",
            "",
            *_exponents(sizes, per_size, counts),
            "",
        ]
    if clv:
        lines += [
            f"## CLV models on the RFM of the {args.clv_size} store ({clv_rows:,} customers, weeks)",
            "",
            "RFM by `rl.rfm(orders, freq='D', freq_multiplier=7)` (cached, not timed); fits and predictions by",
            "`bench_clv.py`'s functions (input frames built before the clock; lifetimes without penalizer,",
            "PyMC-Marketing MAP with flat priors).  BG/NBD on all customers, Gamma-Gamma on the repeat ones;",
            "clv_12m = 12-month CLV at 10 % a year.",
            "",
            *_clv_table(clv, args.repeat),
            "",
        ]
    lines += [
        f"## Agreement with retainlib (checked once at {sizes[0]}, outside the timing)",
        "",
        "| check | result |",
        "| --- | --- |",
        *(f"| {name} | {verdict} |" for name, verdict in checks),
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"written {args.out}")
    if args.json:
        raw = {
            "command": command,
            "machine": _harness.machine(),
            "versions": _harness.versions(VERSIONS),
            "engine": args.engine,
            "counts": counts,
            "sizes": {
                s: [{"case": c, "library": lib, **res} for (c, lib), res in r.items()] for s, r in per_size.items()
            },
            "clv": {"size": args.clv_size, "customers": clv_rows, "results": clv},
            "checks": dict(checks),
        }
        args.json.write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")
        print(f"written {args.json}")


if __name__ == "__main__":
    main()
