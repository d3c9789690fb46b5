"""Set-up of the ``retainlib-analytics`` tests: the plugin importable before installation, hypothesis, shared data."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from polars.testing import assert_frame_equal

_SRC = Path(__file__).resolve().parents[1] / "src"
if str(_SRC) not in sys.path:  # before `uv sync` installs the plugin
    sys.path.insert(0, str(_SRC))

import retainlib as rl  # noqa: E402
import retainlib_analytics  # noqa: E402
from retainlib import _host  # noqa: E402

# The project's hypothesis profiles (tests/conftest.py holds the same; it is not loaded for plugin tests run alone).
settings.register_profile("fast", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("RETAINLIB_HYPOTHESIS", "fast"))

#: The shared reference data folder beside the repository (public data, never copied into it).
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
#: The small files written by hand for these tests.
FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: A host with the plugin registered explicitly (it may not be installed yet).
HOST = _host.build_host(entry_points=False, plugins=[retainlib_analytics])


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder; skips the test when it is absent (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The folder of the hand-written fixtures."""
    return FIXTURES


@pytest.fixture(scope="session")
def read() -> Callable[..., rl.Dataset]:
    """``read(source, *paths, **options)``: a dataset read through the host (its report checked)."""

    def reader(source: str, *paths: Path, **options: Any) -> rl.Dataset:
        return HOST.read(HOST.sources[source], list(paths), options)

    return reader


#: The columns of the load report's rejects, compared between an in-memory and a streamed read.
REJECT_COLUMNS = ["file", "line", "table", "column", "reason"]


def _same_as_read(source: str, paths: list[Path], out: Path, **options: Any) -> rl.Dataset:
    """Read ``paths`` in memory and streamed to ``out``; assert the tables, the counts, the rejects and the files'
    loads are equal; the streamed dataset."""
    eager = rl.read(source, *paths, **options)
    streamed = rl.read_to_parquet(source, *paths, out=out, **options)
    assert sorted(streamed.tables) == sorted(eager.tables)
    for table in eager.tables:
        assert_frame_equal(streamed.require(table).collect(), eager.require(table).collect())  # type: ignore[arg-type]
    a, b = eager.report, streamed.report
    assert a is not None and b is not None
    assert (b.rows_read, b.rows_loaded, b.rows_rejected) == (a.rows_read, a.rows_loaded, a.rows_rejected)
    assert b.rows_read == b.rows_loaded + b.rows_rejected
    assert_frame_equal(
        b.rejects.select(REJECT_COLUMNS).sort(REJECT_COLUMNS), a.rejects.select(REJECT_COLUMNS).sort(REJECT_COLUMNS)
    )
    assert [f.file for f in b.files] == [f.file for f in a.files]  # one load a file, however many slices
    return streamed


@pytest.fixture(scope="session")
def same_as_read() -> Callable[..., rl.Dataset]:
    """``same_as_read(source, paths, out, **options)``: the files read in memory and streamed, found equal
    (:func:`_same_as_read`); the streamed dataset."""
    return _same_as_read
