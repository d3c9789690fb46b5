"""Nothing lost, nothing partial: a worker killed mid-computation, a corrupt file among many."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import retainlib as rl
import retainlib.dask as rld
from retainlib.errors import RetainlibError, SourceError

PIECES = 6

# dask's collections are untyped: handled as Any (the kernels take them at run time).
dask: Any = importlib.import_module("dask")
dd: Any = importlib.import_module("dask.dataframe")
Client = Any


def _slow_orders(orders: pl.DataFrame) -> Any:
    """``orders`` as a dask DataFrame whose partitions take a while to read (time to kill a worker)."""
    frame = orders.to_pandas(use_pyarrow_extension_array=True)

    def piece(i: int) -> pd.DataFrame:  # a local function: sent to the workers by value
        time.sleep(0.4)
        return frame.iloc[i::PIECES]

    result = dd.from_map(piece, range(PIECES), meta=frame.iloc[:0])
    return result


def test_worker_killed_mid_computation(client: Client, store: dict[str, pl.DataFrame]) -> None:
    killed: list[str] = []

    def kill_one_when_busy() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            busy = {address: tasks for address, tasks in client.processing().items() if tasks}
            if busy:
                address = next(iter(busy))
                pids = client.run(os.getpid, workers=[address])
                os.kill(pids[address], signal.SIGKILL)
                killed.append(address)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_when_busy)
    killer.start()
    try:
        result = rl.cohort_retention(_slow_orders(store["orders"]), revenue=True)
    finally:
        killer.join()
    assert killed, "no worker was busy: the computation ended before the kill"
    assert_frame_equal(result, rl.cohort_retention(store["orders"], revenue=True))


def _corrupt(path: Path) -> None:
    """Scramble the data pages of a Parquet file, leaving its footer readable."""
    data = bytearray(path.read_bytes())
    for k in range(64, len(data) // 2):
        data[k] = (data[k] * 7 + 13) % 256
    path.write_bytes(bytes(data))


def _files(folder: Path, orders: pl.DataFrame, count: int) -> list[Path]:
    step = -(-orders.height // count)
    paths = [folder / f"part-{i:02d}.parquet" for i in range(count)]
    for i, path in enumerate(paths):
        orders.slice(i * step, step).write_parquet(path, row_group_size=100)
    return paths


def test_corrupt_pages_name_the_file(client: Client, store: dict[str, pl.DataFrame], tmp_path: Path) -> None:
    paths = _files(tmp_path, store["orders"], 6)
    _corrupt(paths[4])
    ddf = rld.read_parquet(tmp_path, partition_rows=250)  # the footers are fine: the error comes from a worker
    with pytest.raises(SourceError, match=r"part-04\.parquet") as caught:
        rl.retention_rate(ddf)
    assert caught.value.file == paths[4]
    summary: Any = rld.rfm(ddf, as_of=dt.date(2030, 1, 1))  # with as_of nothing is read until compute()
    with pytest.raises(SourceError, match=r"part-04\.parquet"):
        summary.compute()


def test_unreadable_footer_names_the_file(store: dict[str, pl.DataFrame], tmp_path: Path) -> None:
    paths = _files(tmp_path, store["orders"], 4)
    paths[2].write_bytes(b"not parquet at all")
    with pytest.raises(SourceError, match=r"part-02\.parquet") as caught:
        rld.read_parquet(tmp_path)
    assert caught.value.file == paths[2]
    store["orders"].drop("currency").write_parquet(paths[2])
    with pytest.raises(SourceError, match=r"(?s)part-02\.parquet.*differ"):
        rld.read_parquet(tmp_path)
    with pytest.raises(SourceError, match="no such file"):
        rld.read_parquet(tmp_path / "missing")


def test_a_failing_partition_is_never_a_partial_result(client: Client, store: dict[str, pl.DataFrame]) -> None:
    orders = store["orders"].to_pandas(use_pyarrow_extension_array=True)

    def piece(i: int) -> pd.DataFrame:
        if i == 3:
            raise OSError("disk gone")
        return orders.iloc[i::5]

    ddf = dd.from_map(piece, range(5), meta=orders.iloc[:0])
    with pytest.raises(RetainlibError, match="disk gone"):
        rl.survival(ddf, window=60)
