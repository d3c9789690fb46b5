"""Set-up of the dask tests: skipped without ``retainlib[dask]``; one small ``LocalCluster`` for them all."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from retainlib.samples import synthetic_tables

#: Why the dask tests skip.
MISSING = 'the dask tests need the extra retainlib[dask] (pip install "retainlib[dask]")'
#: Whether dask and distributed are installed: without them only test_dask_installed.py runs (and skips, saying why).
INSTALLED = all(importlib.util.find_spec(name) is not None for name in ("dask", "distributed"))
if not INSTALLED:
    collect_ignore_glob = ["test_dask_[!i]*.py"]


#: Worker processes of the test cluster: several, so that partitions really travel between processes.
WORKERS = 2


@pytest.fixture(scope="session")
def client() -> Iterator[Any]:
    """A ``distributed`` cluster of worker processes on loopback, shared by the dask tests (started once)."""
    distributed: Any = importlib.import_module("distributed")  # untyped

    cluster = distributed.LocalCluster(
        n_workers=WORKERS,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # any free port: never a clash with a running cluster
        memory_limit="1GiB",
    )
    with distributed.Client(cluster) as connected:
        # Each worker imports retainlib's dask engine once, before the tests' clocks.  A function of this
        # module would be sent by reference, and the workers cannot import the tests (not a package).
        connected.run(importlib.import_module, "retainlib.dask")
        yield connected
    cluster.close()


@pytest.fixture(scope="session")
def store() -> dict[str, pl.DataFrame]:
    """A small synthetic store (orders over three years: more than 62 months' worth is not needed)."""
    return synthetic_tables(600, seed=7, events=False)


@pytest.fixture(scope="session")
def store_files(store: dict[str, pl.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The store's orders and subscriptions as several Parquet files each (row groups of 200 rows)."""
    root = tmp_path_factory.mktemp("store")
    out: dict[str, Path] = {}
    for table in ("orders", "subscriptions"):
        folder = root / table
        folder.mkdir()
        frame = store[table]
        step = -(-frame.height // 3)
        for i in range(3):  # rows in their generated order: a customer's rows may span files
            frame.slice(i * step, step).write_parquet(folder / f"part-{i}.parquet", row_group_size=200)
        out[table] = folder
    return out


def as_polars(frame: Any) -> pl.DataFrame:
    """A computed dask result (pandas) as polars."""
    from retainlib.dask import to_polars

    return to_polars(frame)
