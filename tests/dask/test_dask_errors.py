"""Bad data on dask: rows named by file and row (or row of the frame) as the local engine names them; one shuffle."""

from __future__ import annotations

import datetime as dt
import importlib
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import retainlib as rl
import retainlib.dask as rld
from retainlib.errors import DataError, Problem, RetainlibError, SourceError
from retainlib.tables import MONEY, TIMESTAMP

sys.path.insert(0, str(Path(__file__).parents[1] / "metrics"))
from frames import orders_with_a_placeholder, subscriptions

# dask's collections are untyped: handled as Any (the kernels take them at run time).
dask: Any = importlib.import_module("dask")
dd: Any = importlib.import_module("dask.dataframe")


@contextmanager
def in_process() -> Iterator[None]:
    """dask's synchronous scheduler and task shuffle: the partial steps run in this process (quick)."""
    with dask.config.set({"scheduler": "synchronous", "dataframe.shuffle.method": "tasks"}):
        yield


def _dask(frame: pl.DataFrame, partitions: int) -> Any:
    return dd.from_pandas(frame.to_pandas(use_pyarrow_extension_array=True), npartitions=partitions, sort=False)


def _same_problems(got: tuple[Problem, ...], want: tuple[Problem, ...]) -> None:
    assert [(p.column, p.reason, p.count, p.file) for p in got] == [(p.column, p.reason, p.count, p.file) for p in want]
    for mine, theirs in zip(got, want, strict=True):
        assert_frame_equal(mine.rows, theirs.rows)


def _raw_orders(store: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The store's orders with amounts as text (raw data: every value coerced and checked)."""
    return store["orders"].with_columns(pl.col("amount").cast(pl.String))


def _spoil(frame: pl.DataFrame, rows: dict[int, str]) -> pl.DataFrame:
    """``frame`` with the amount of each 0-based row in ``rows`` replaced by a text that is not a number."""
    index = pl.int_range(pl.len())
    amount = pl.col("amount")
    for row, text in rows.items():
        amount = pl.when(index == row).then(pl.lit(text)).otherwise(amount)
    return frame.with_columns(amount.alias("amount"))


def test_bad_rows_named_by_row_of_the_frame(store: dict[str, pl.DataFrame]) -> None:
    """A dask frame of no files: rows numbered through the whole frame, as the local engine numbers a DataFrame."""
    orders = _spoil(_raw_orders(store), {5: "abc", 700: "x", 1400: "1e999999"})
    with pytest.raises(DataError) as local:
        rl.cohort_retention(orders, revenue=True)
    with in_process(), pytest.raises(DataError) as remote:
        rl.cohort_retention(_dask(orders, 4), revenue=True)
    _same_problems(remote.value.problems, local.value.problems)
    assert remote.value.rows == local.value.rows == 3
    assert remote.value.problems[0].rows["row"].to_list() == [6, 701, 1401]  # 1-based, as the local engine says
    # rfm with as_of reads nothing until computed, on shuffled partitions: the rows are named by their columns
    summary: Any = rld.rfm(_dask(orders, 4), as_of=dt.date(2030, 1, 1))
    with in_process(), pytest.raises(DataError) as unplaced:
        summary.compute()
    (problem,) = unplaced.value.problems
    assert "row" not in problem.rows.columns
    assert set(problem.rows["order_id"]) <= set(orders["order_id"].gather([5, 700, 1400]))


def test_bad_rows_named_by_file_and_row_in_it(store: dict[str, pl.DataFrame], tmp_path: Path) -> None:
    """Parquet files read by read_parquet, several pieces per file: each bad row named by its file and row there."""
    orders = _raw_orders(store)
    step = -(-orders.height // 3)
    files = [tmp_path / f"part-{i}.parquet" for i in range(3)]
    spoiled = {0: {}, 1: {step - 2: "abc"}, 2: {3: "x", 250: "y"}}  # rows of each file, 0-based
    for i, file in enumerate(files):
        _spoil(orders.slice(i * step, step), spoiled[i]).write_parquet(file, row_group_size=100)
    frame = rld.read_parquet(tmp_path, partition_rows=200)
    assert frame.npartitions > 3  # several pieces per file: the offsets matter
    assert_frame_equal(rl.retention_rate(frame), rl.retention_rate(orders))  # amounts unread: no error, as locally
    for declared in (False, True):
        with in_process(), pytest.raises(DataError) as remote:
            rl.cohort_retention(rld.read_parquet(tmp_path, partition_rows=200, by_customer=declared), revenue=True)
        got = remote.value.problems
        assert [p.file for p in got] == [files[1], files[2]]
        for problem, file in zip(got, files[1:], strict=True):
            with pytest.raises(DataError) as local:  # the same file alone, on the local engine
                rl.cohort_retention(pl.read_parquet(file), revenue=True)
            (want,) = local.value.problems
            assert (problem.column, problem.reason, problem.count) == (want.column, want.reason, want.count)
            assert_frame_equal(problem.rows, want.rows)
        assert got[0].rows["row"].to_list() == [step - 1]
        assert got[1].rows["row"].to_list() == [4, 251]
        assert str(files[2]) in str(remote.value)
    with in_process(), pytest.raises(DataError) as caught:  # rfm checks every value in its pre-pass
        rld.rfm(frame)
    assert [p.file for p in caught.value.problems] == [files[1], files[2]]


@pytest.mark.parametrize(
    "kernel",
    [
        lambda d: rl.retention_rate(d, period="week"),
        lambda d: rl.cohort_retention(d, period="week", revenue=True),
        lambda d: rl.returning_customer_rate(d, period="week"),
        lambda d: rl.repeat_purchase_rate(d, period="week", cohorts=True),
        lambda d: rl.retention_rate(d, as_of=dt.date(3000, 1, 1)),  # the end of observation past the horizon
    ],
    ids=["retention_rate", "cohort_retention", "returning_customer_rate", "repeat_purchase_rate", "as_of"],
)
def test_a_placeholder_date_is_named_as_locally(kernel: Any) -> None:
    orders = orders_with_a_placeholder()
    with pytest.raises(DataError, match="more than") as local:
        kernel(orders)
    with in_process(), pytest.raises(DataError, match="more than") as remote:
        kernel(_dask(orders, 3))
    _same_problems(remote.value.problems, local.value.problems)


def test_data_spread_over_the_horizon_names_its_first_and_last_rows() -> None:
    years = [1950, 1990, 2000, 2000, 2010, 2050]
    orders = pl.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(years))],
            "customer_id": [f"c{i}" for i in range(len(years))],
            "ordered_at": pl.Series([dt.datetime(y, 6, 1, tzinfo=dt.UTC) for y in years], dtype=TIMESTAMP),
            "amount": pl.Series([Decimal(1)] * len(years), dtype=MONEY),
            "currency": ["EUR"] * len(years),
        }
    )
    kernel: Any = lambda d: rl.repeat_purchase_rate(d, period="year", cohorts=True)  # noqa: E731
    with pytest.raises(DataError, match="100 years") as local:
        kernel(orders)
    assert "first and last rows" in local.value.problems[0].reason
    with in_process(), pytest.raises(DataError, match="100 years") as remote:
        kernel(_dask(orders, 3))
    _same_problems(remote.value.problems, local.value.problems)


def test_a_placeholder_subscription_end_is_named_as_locally() -> None:
    table = subscriptions(
        ("a", "2024-01-01T00:00:00Z", "2024-02-10T00:00:00Z", "10"),
        ("b", "2024-01-15T00:00:00Z", None, "20"),
        ("c", "2024-02-01T00:00:00Z", "2024-04-01T00:00:00Z", "5"),
        ("d", "2024-03-01T00:00:00Z", "9999-12-31T00:00:00Z", "10"),
        ("e", "2024-03-05T00:00:00Z", None, "7"),
    )
    with pytest.raises(DataError, match="1200 months") as local:
        rl.mrr_movements(table)
    with in_process(), pytest.raises(DataError, match="1200 months") as remote:
        rl.mrr_movements(_dask(table, 2))
    assert remote.value.problems[0].rows["subscription_id"].to_list() == ["s3"]
    _same_problems(remote.value.problems[:1], local.value.problems[:1])


def _corrupt(path: Path) -> None:
    """Scramble the data pages of a Parquet file, leaving its footer readable."""
    data = bytearray(path.read_bytes())
    for k in range(64, len(data) // 2):
        data[k] = (data[k] * 7 + 13) % 256
    path.write_bytes(bytes(data))


def _computed(frame: Any) -> Any:
    return frame.compute()


def test_a_corrupt_file_among_many_names_it(store: dict[str, pl.DataFrame], tmp_path: Path) -> None:
    orders = store["orders"]
    step = -(-orders.height // 12)
    paths = [tmp_path / f"part-{i:02d}.parquet" for i in range(12)]
    for i, path in enumerate(paths):
        orders.slice(i * step, step).write_parquet(path, row_group_size=100)
    _corrupt(paths[9])
    for declared in (False, True):
        frame = rld.read_parquet(tmp_path, partition_rows=150, by_customer=declared)
        kernels: list[Any] = [
            lambda d: rl.cohort_retention(d, revenue=True),
            lambda d: rl.survival(d, window=60),
            lambda d: _computed(rld.rfm(d, as_of=dt.date(2030, 1, 1))),  # read on the workers only
            rld.rfm,  # its pre-pass reads every file
        ]
        for kernel in kernels:
            with in_process(), pytest.raises(RetainlibError, match=r"part-09\.parquet") as caught:
                kernel(frame)
            if isinstance(caught.value, SourceError):
                assert caught.value.file == paths[9]


def _shuffles(graph: Any) -> int:
    """How many shuffles a graph holds: its distinct shuffle outputs (``taskshuffle-<token>``, ``p2pshuffle-...``)."""
    names = {key[0] if isinstance(key, tuple) else key for key in graph}
    return sum(1 for name in names if str(name).rsplit("-", 1)[0] in {"taskshuffle", "p2pshuffle", "diskshuffle"})


def test_one_shuffle_per_call(store: dict[str, pl.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    """cohort_retention with revenue has two per-customer steps (masks, revenue by cohort): one shuffle for both."""
    computed: list[Counter[str]] = []
    real = dask.compute

    def recording(*args: Any, **kwargs: Any) -> Any:
        graph: dict[Any, Any] = {}
        for task in args:
            graph.update(dict(task.__dask_graph__()))
        computed.append(Counter({"shuffles": _shuffles(graph)}))
        return real(*args, **kwargs)

    monkeypatch.setattr(dask, "compute", recording)
    orders = store["orders"]
    frame = _dask(orders, 4)
    with in_process():
        got = rl.cohort_retention(frame, revenue=True)
    assert sum(c["shuffles"] for c in computed) == 1
    assert len(computed) == 2  # the span pre-pass (no shuffle), then both per-customer steps together
    assert_frame_equal(got, rl.cohort_retention(orders, revenue=True))
    computed.clear()
    buckets = orders.with_columns(b=pl.col("customer_id").hash(seed=3) % 3)
    parts = [_dask(buckets.filter(pl.col("b") == b).drop("b"), 1) for b in range(3)]
    declared = rld.by_customer(dd.concat(parts), declared=True)  # each customer in one partition: no shuffle
    with in_process():
        assert_frame_equal(rl.cohort_retention(declared, revenue=True), got)
    assert sum(c["shuffles"] for c in computed) == 0
    assert len(computed) == 2
