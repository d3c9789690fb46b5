"""retainlib sources for product analytics: ``ga4``, ``mixpanel`` and ``amplitude`` -> events (and GA4 orders).

* ``ga4``: Google Analytics 4 BigQuery export tables (``events_YYYYMMDD``,
  ``events_intraday_YYYYMMDD``) as JSON lines (plain or gzipped) or Parquet;
  purchases with a transaction id are orders too;
* ``mixpanel``: Mixpanel raw event exports (JSON lines, plain or gzipped);
* ``amplitude``: Amplitude Export API archives (a zip of hourly gzipped JSON
  lines), read in memory, or one member of such an archive.

Files are scanned lazily and their JSON decoded by polars; Python's
:mod:`json` only explains the lines polars refuses.  ``rl.read`` holds the
events read in memory; ``rl.read_to_parquet`` (``retainlib read ... --out
DIR``) streams them through the planners (:mod:`retainlib_analytics._plan`),
whose plans declare the duplicate keys the host checks across the read, so
that exports of tens of millions of events convert with bounded memory.
Every record is loaded or rejected with its file, line (for an archive,
``archive!member`` and the line) and reason: rows read = loaded + rejected.
The pages ``docs/sources/ga4.md``, ``mixpanel.md`` and ``amplitude.md``
state every policy and option.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import polars as pl

from retainlib import Dataset
from retainlib.errors import OptionError
from retainlib.load_report import LoadReport
from retainlib.plugins import FilePlan, ReadResult, Source, hookimpl, progress
from retainlib_analytics import _amplitude, _ga4, _mixpanel, _plan
from retainlib_analytics._events import Part, TablePlan, merge_loads, read_all
from retainlib_analytics._files import head
from retainlib_analytics._options import (
    AMPLITUDE_OPTIONS,
    GA4_OPTIONS,
    MIXPANEL_OPTIONS,
    AmplitudeOptions,
    Ga4Options,
    MixpanelOptions,
)

__all__ = [
    "AMPLITUDE_OPTIONS",
    "GA4_OPTIONS",
    "MIXPANEL_OPTIONS",
    "detect_amplitude",
    "detect_ga4",
    "detect_mixpanel",
    "plan_amplitude",
    "plan_ga4",
    "plan_mixpanel",
    "read_amplitude",
    "read_ga4",
    "read_mixpanel",
    "retainlib_sources",
]

detect_ga4 = _ga4.detect
detect_mixpanel = _mixpanel.detect
detect_amplitude = _amplitude.detect


def _files(source: str, paths: Sequence[Path]) -> tuple[list[Path], list[bytes]]:
    if not paths:
        raise OptionError(f"the {source} source needs at least one file", option="paths", value=list(paths))
    files = [Path(p) for p in paths]
    return files, [head(p, source) for p in files]


def _plan_files(
    source: str,
    paths: Sequence[Path],
    make_parts: Callable[[list[Path], list[bytes], int | None], Iterator[Part]],
    plans: Sequence[TablePlan],
    groups: Callable[[Path], list[Callable[[], Iterator[Part]]]] | None = None,
    empty: Callable[[Path], Part] | None = None,
) -> list[FilePlan]:
    """Streaming plans of the files (see :mod:`retainlib_analytics._plan`), in order, for each table."""
    files, heads = _files(source, paths)
    return _plan.plan(files, heads, make_parts, plans, groups=groups, empty=empty)


def _read(
    source: str,
    paths: Sequence[Path],
    make_parts: Callable[[list[Path], list[bytes], int | None], Iterator[Part]],
    plans: Sequence[TablePlan],
) -> ReadResult:
    """Read every file into the plans' tables; one account per file and table; progress per file."""
    files, heads = _files(source, paths)
    accounts = read_all(make_parts(files, heads, None), [str(p) for p in files], plans, source)
    loads = merge_loads(*accounts)
    for load in accounts[0].loads:
        progress(Path(load.file), load.rows_read)
    # events always; orders when some purchase was a candidate (even if none was loaded)
    read_into = {load.table for load in loads}
    tables: dict[str, pl.DataFrame] = {
        a.table: a.frame for a in accounts if a.table == "events" or a.table in read_into
    }
    dataset = Dataset(**tables, validate="none", source=source)  # type: ignore[arg-type]
    return ReadResult(dataset=dataset, report=LoadReport(source=source, files=tuple(loads)))


def read_ga4(
    paths: Sequence[Path],
    *,
    identity: str | None = None,
    params: str | Sequence[str] | None = None,
    revenue: str | None = None,
    currency: str | None = None,
) -> ReadResult:
    """Read GA4 BigQuery export tables (JSON lines or Parquet) into ``events`` (and ``orders`` from purchases).

    Options (strings; ``None`` is the default) are described in :data:`GA4_OPTIONS` and ``docs/sources/ga4.md``.
    """
    options = Ga4Options.of(identity=identity, params=params, revenue=revenue, currency=currency)
    return _read(
        _ga4.NAME,
        paths,
        lambda files, heads, rows: _ga4.parts(files, heads, options, rows),
        _ga4.plans(options),
    )


def read_mixpanel(
    paths: Sequence[Path],
    *,
    time_unit: str | None = None,
    properties: str | Sequence[str] | None = None,
) -> ReadResult:
    """Read Mixpanel raw event exports (JSON lines) into ``events``.

    Options are described in :data:`MIXPANEL_OPTIONS` and ``docs/sources/mixpanel.md``.
    """
    options = MixpanelOptions.of(time_unit=time_unit, properties=properties)
    return _read(
        _mixpanel.NAME,
        paths,
        lambda files, heads, rows: _mixpanel.parts(files, heads, options, rows),
        _mixpanel.plans(options),
    )


def read_amplitude(
    paths: Sequence[Path],
    *,
    identity: str | None = None,
    properties: str | Sequence[str] | None = None,
) -> ReadResult:
    """Read Amplitude Export API archives (zip of gzipped JSON lines) into ``events``.

    Options are described in :data:`AMPLITUDE_OPTIONS` and ``docs/sources/amplitude.md``.
    """
    options = AmplitudeOptions.of(identity=identity, properties=properties)
    return _read(
        _amplitude.NAME,
        paths,
        lambda files, heads, rows: _amplitude.parts(files, heads, options, rows),
        _amplitude.plans(options),
    )


def plan_ga4(
    paths: Sequence[Path],
    *,
    identity: str | None = None,
    params: str | Sequence[str] | None = None,
    revenue: str | None = None,
    currency: str | None = None,
) -> list[FilePlan]:
    """Streaming plans of GA4 exports for ``rl.read_to_parquet`` (same options, same rows as :func:`read_ga4`)."""
    options = Ga4Options.of(identity=identity, params=params, revenue=revenue, currency=currency)
    return _plan_files(
        _ga4.NAME, paths, lambda files, heads, rows: _ga4.parts(files, heads, options, rows), _ga4.plans(options)
    )


def plan_mixpanel(
    paths: Sequence[Path],
    *,
    time_unit: str | None = None,
    properties: str | Sequence[str] | None = None,
) -> list[FilePlan]:
    """Streaming plans of Mixpanel exports for ``rl.read_to_parquet`` (same rows as :func:`read_mixpanel`)."""
    options = MixpanelOptions.of(time_unit=time_unit, properties=properties)
    return _plan_files(
        _mixpanel.NAME,
        paths,
        lambda files, heads, rows: _mixpanel.parts(files, heads, options, rows),
        _mixpanel.plans(options),
    )


def plan_amplitude(
    paths: Sequence[Path],
    *,
    identity: str | None = None,
    properties: str | Sequence[str] | None = None,
) -> list[FilePlan]:
    """Streaming plans of Amplitude archives for ``rl.read_to_parquet`` (same rows as :func:`read_amplitude`)."""
    options = AmplitudeOptions.of(identity=identity, properties=properties)
    return _plan_files(
        _amplitude.NAME,
        paths,
        lambda files, heads, rows: _amplitude.parts(files, heads, options, rows),
        _amplitude.plans(options),
        groups=lambda path: _amplitude.member_groups(path, options),
        empty=lambda path: _amplitude.empty_input(path, options),
    )


@hookimpl
def retainlib_sources() -> Iterable[Source]:
    """The ``ga4``, ``mixpanel`` and ``amplitude`` sources."""
    yield Source(
        name=_ga4.NAME,
        description="Google Analytics 4: BigQuery export tables (JSON lines or Parquet) -> events, purchases -> orders",
        kinds=("jsonl", "json", "parquet", "gz"),
        reader=read_ga4,
        detector=detect_ga4,
        planner=plan_ga4,
        options=GA4_OPTIONS,
    )
    yield Source(
        name=_mixpanel.NAME,
        description="Mixpanel: raw event export (JSON lines) -> events",
        kinds=("jsonl", "json", "gz"),
        reader=read_mixpanel,
        detector=detect_mixpanel,
        planner=plan_mixpanel,
        options=MIXPANEL_OPTIONS,
    )
    yield Source(
        name=_amplitude.NAME,
        description="Amplitude: Export API archive (zip of hourly gzipped JSON lines) -> events",
        kinds=("zip", "gz", "jsonl"),
        reader=read_amplitude,
        detector=detect_amplitude,
        planner=plan_amplitude,
        options=AMPLITUDE_OPTIONS,
    )
