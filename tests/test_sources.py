"""The plugin host, the built-in file sources and the load report."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retainlib as rl
from retainlib import _host
from retainlib.errors import OptionError, PluginError, SchemaError, SourceError
from retainlib.plugins import ReadResult, Source, Specs, hookimpl
from retainlib.report import FileLoad, LoadReport

HEADER = "order_id,customer_id,ordered_at,amount,currency\n"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_builtin_sources_are_listed() -> None:
    assert {"csv", "parquet", "json"} <= set(rl.sources())
    host = _host.build_host(entry_points=False)
    assert host.sources["csv"].plugin == "retainlib._builtin.files"


def test_read_csv_with_detection_and_report(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "orders.csv",
        HEADER
        + "o1,c1,2024-01-05T10:00:00Z,10.00,usd\no2,c1,2024-02-05,x,USD\no3,c2,2024-02-07 00:00:00+01:00,5,EUR\n",
    )
    ds = rl.read(f)
    assert ds.source == "csv"
    report = ds.report
    assert report is not None
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (3, 2, 1)
    rejects = report.rejects
    assert rejects.select("file", "line", "table", "column").row(0) == (str(f), 3, "orders", "ordered_at")
    assert "naive timestamp" in rejects["reason"][0] and "amount: not a number" in rejects["reason"][0]
    assert ds.orders is not None
    assert ds.orders.collect()["amount"].to_list() == [Decimal("10"), Decimal("5")]
    out = report.write_rejects(tmp_path / "rejects.csv")
    assert pl.read_csv(out)["line"].to_list() == [3]
    # With a time zone for naive timestamps the row loads (the amount still fails).
    again = rl.read("csv", f, tz="UTC")
    assert again.report is not None and again.report.reasons()["reason"].to_list() == ["amount: not a number"]


def test_mapping_table_and_defaults(tmp_path: Path) -> None:
    f = _write(tmp_path / "export.csv", "id,user,when,total\n1,7,2024-03-01 10:00,9.50\n")
    ds = rl.read(
        "csv",
        f,
        table="orders",
        mapping={"id": "order_id", "user": "customer_id", "when": "ordered_at", "total": "amount"},
        defaults={"currency": "EUR"},
        tz="Europe/Paris",
    )
    assert ds.orders is not None
    assert ds.orders.collect().row(0) == ("1", "7", dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC), Decimal("9.5"), "EUR")


@pytest.mark.parametrize(
    ("content", "error", "pattern"),
    [
        (b"", SourceError, "empty"),
        (
            HEADER.encode() + "o1,c1,2024-01-05T10:00:00Z,10,EUR,caf\xe9\n".encode("latin-1"),
            SourceError,
            r"not valid UTF-8 \(line 2",
        ),
        (
            b"order_id,customer,ordered_at,amount,currency\no1,c1,2024-01-01,1,EUR\n",
            SourceError,
            "cannot tell which table",
        ),
    ],
)
def test_bad_files(tmp_path: Path, content: bytes, error: type[Exception], pattern: str) -> None:
    f = tmp_path / "data.csv"
    f.write_bytes(content)
    with pytest.raises(error, match=pattern) as info:
        rl.read("csv", f)
    assert isinstance(info.value, rl.RetainlibError)
    assert str(f) in str(info.value)


def test_other_encodings(tmp_path: Path) -> None:
    text = HEADER + "o1,café,2024-01-05T10:00:00Z,10,EUR\n"
    latin = _write(tmp_path / "latin.csv", text, "latin-1")
    ds = rl.read("csv", latin, table="orders", encoding="latin-1")
    assert ds.orders is not None and ds.orders.collect()["customer_id"].to_list() == ["café"]
    utf16 = _write(tmp_path / "orders16.csv", "\ufeff" + text, "utf-16-le")
    ds16 = rl.read("csv", utf16)
    assert ds16.orders is not None and ds16.orders.collect()["customer_id"].to_list() == ["café"]
    with pytest.raises(OptionError, match="unknown encoding"):
        rl.read("csv", latin, encoding="klingon")


def test_missing_column_in_a_file_names_it(tmp_path: Path) -> None:
    f = _write(tmp_path / "orders.csv", "order_id,customer_id,ordered_at,amount\no1,c1,2024-01-05T10:00:00Z,10\n")
    with pytest.raises(SchemaError) as info:
        rl.read("csv", f)
    assert info.value.column == "currency" and info.value.file == f


def test_json_and_parquet_sources(tmp_path: Path) -> None:
    lines = _write(
        tmp_path / "responses.jsonl",
        '{"response_id": "r1", "customer_id": "c1", "responded_at": "2024-01-01T00:00:00Z", "score": 9}\n'
        '{"response_id": "r2", "customer_id": "c1", "responded_at": "2024-01-01T00:00:00Z", "score": 12}\n',
    )
    ds = rl.read(lines)
    assert ds.report is not None and (ds.report.rows_loaded, ds.report.rows_rejected) == (1, 1)
    assert ds.report.rejects.row(0)[1:] == (2, "responses", "score", "score: score outside 0..10")
    bad = _write(tmp_path / "bad.json", '[{"a": 1},')
    with pytest.raises(SourceError, match="invalid JSON at line 1"):
        rl.read("json", bad)
    pq = tmp_path / "orders.parquet"
    pl.read_csv(_write(tmp_path / "o.csv", HEADER + "o1,c1,2024-01-05T10:00:00Z,10,EUR\n")).write_parquet(pq)
    ds_pq = rl.read(pq)
    assert ds_pq.source == "parquet" and ds_pq.orders is not None and ds_pq.orders.collect().height == 1


def test_reading_several_files_of_different_sources_merges(tmp_path: Path) -> None:
    orders = _write(tmp_path / "orders.csv", HEADER + "o1,c1,2024-01-05T10:00:00Z,10,EUR\n")
    customers = tmp_path / "customers.parquet"
    pl.DataFrame({"customer_id": ["c1"], "created_at": ["2024-01-01T00:00:00Z"]}).write_parquet(customers)
    ds = rl.read(orders, customers)
    assert set(ds.tables) == {"customers", "orders"}
    assert ds.report is not None and ds.report.rows_read == 2


def test_unknown_source_and_option(tmp_path: Path) -> None:
    f = _write(tmp_path / "orders.csv", HEADER)
    with pytest.raises(OptionError, match="Did you mean 'csv'"):
        rl.read("cvs", f)
    with pytest.raises(OptionError, match="no option"):
        rl.read("csv", f, timezone="UTC")
    with pytest.raises(SourceError, match="no such file"):
        rl.read("csv", tmp_path / "missing.csv")
    with pytest.raises(SourceError, match="no source recognises"):
        rl.read(_write(tmp_path / "notes.md", "hello"))


# --- third-party plugins ------------------------------------------------------------------


def _reader(paths: Sequence[Path], **options: Any) -> ReadResult:
    rows = [line for p in paths for line in p.read_text().splitlines() if line]
    good = [r for r in rows if r.count(";") == 1]
    frame = pl.DataFrame(
        {
            "customer_id": [r.split(";")[0] for r in good],
            "occurred_at": [r.split(";")[1] for r in good],
            "event": ["visit"] * len(good),
        },
        schema={"customer_id": pl.String, "occurred_at": pl.String, "event": pl.String},
    )
    rejected = pl.DataFrame(
        {
            "file": [str(paths[0])] * (len(rows) - len(good)),
            "line": [i + 1 for i, r in enumerate(rows) if r.count(";") != 1],
            "table": ["events"] * (len(rows) - len(good)),
            "column": ["*"] * (len(rows) - len(good)),
            "reason": ["expected 2 fields"] * (len(rows) - len(good)),
        },
        schema={"file": pl.String, "line": pl.Int64, "table": pl.String, "column": pl.String, "reason": pl.String},
    )
    report = LoadReport(
        source="visits",
        files=(
            FileLoad(file=str(paths[0]), table="events", rows_read=len(rows), rows_loaded=len(good), rejected=rejected),
        ),
    )
    return ReadResult(dataset=rl.Dataset(events=frame, tz=options.get("tz")), report=report)


def _detect(path: Path, head: bytes) -> int:
    return 90 if path.suffix == ".visits" else 0


class VisitsPlugin:
    """A minimal third-party plugin, registered as an object."""

    __name__ = "visits-plugin"

    @hookimpl
    def retainlib_sources(self) -> Iterable[Source]:
        yield Source(
            name="visits",
            description="visit logs",
            kinds=("visits",),
            reader=_reader,
            detector=_detect,
            options={"tz": "time zone"},
        )


def test_a_plugin_source_is_read_and_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = _host.build_host(entry_points=False, plugins=[VisitsPlugin()])
    monkeypatch.setattr(_host, "default_host", lambda: host)
    monkeypatch.setattr("retainlib._read.default_host", lambda: host)
    f = _write(tmp_path / "log.visits", "c1;2024-01-01T00:00:00Z\nbroken\nc2;2024-01-02 00:00\n")
    assert rl.sources()["visits"] == "visit logs"
    ds = rl.read(f, tz="UTC")
    assert ds.source == "visits" and ds.events is not None and ds.events.collect().height == 2
    assert ds.report is not None and ds.report.rejects["line"].to_list() == [2]


def test_unbalanced_report_is_a_plugin_error(tmp_path: Path) -> None:
    def lying_reader(paths: Sequence[Path], **options: Any) -> ReadResult:
        result = _reader(paths, **options)
        load = result.report.files[0]
        fake = LoadReport(
            source="visits",
            files=(
                FileLoad(
                    file=load.file,
                    table="events",
                    rows_read=load.rows_read + 1,
                    rows_loaded=load.rows_loaded,
                    rejected=load.rejected,
                ),
            ),
        )
        return ReadResult(dataset=result.dataset, report=fake)

    class Liar:
        @hookimpl
        def retainlib_sources(self) -> Iterable[Source]:
            yield Source(name="liar", description="", kinds=(), reader=lying_reader)

    host = _host.build_host(entry_points=False, plugins=[Liar()])
    f = _write(tmp_path / "log.visits", "c1;2024-01-01T00:00:00Z\n")
    with pytest.raises(PluginError, match="2 rows read"):
        host.read(host.sources["liar"], [f], {})


def test_misspelled_hook_is_caught() -> None:
    class Typo:
        @hookimpl
        def retainlib_source(self) -> Iterable[Source]:
            return []

    with pytest.raises(PluginError, match="unknown hook"):
        _host.build_host(entry_points=False, plugins=[Typo()])


def test_bad_source_names_are_refused() -> None:
    with pytest.raises(PluginError):
        Source(name="Bad Name", description="", kinds=(), reader=_reader)


def test_a_plugin_failing_to_import_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> object:
        raise ImportError("no module named 'missing_dependency'")

    fake = SimpleNamespace(name="broken", value="retainlib_broken", load=boom)
    monkeypatch.setattr(_host, "_entry_points", lambda: [fake])
    host = _host.build_host()
    assert [f.name for f in host.failures] == ["broken"]
    assert "missing_dependency" in host.failures[0].error
    assert "csv" in host.sources


def test_every_hook_is_tested_and_documented() -> None:
    hooks = [name for name in dir(Specs) if name.startswith("retainlib_")]
    assert hooks == ["retainlib_sources"]
    docs = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text(encoding="utf-8")
    tests = "".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    for hook in hooks:
        assert f"### {hook}" in docs, f"{hook} is not documented in docs/plugins.md"
        assert f"def {hook}" in tests, f"{hook} has no test implementing it"


# --- the load-report identity on generated files -------------------------------------------

good_row = st.tuples(
    st.integers(0, 5).map(lambda i: f"c{i}"),
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 1, 1)).map(
        lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
    ),
    st.decimals(min_value=0, max_value=10_000, places=2).map(str),
    st.sampled_from(["USD", "eur", " gbp "]),
)
#: Values that spoil customer_id, ordered_at, amount and currency respectively.
BAD_VALUES = (["", "  "], ["", "n/a", "2024-13-45", "2024-01-01"], ["", "n/a", "1.23456", "€5"], ["", "US", "n/a"])
bad_value = st.integers(0, 3)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(good_row, st.integers(-1, 3), bad_value), max_size=30))
def test_rows_read_equal_loaded_plus_rejected(
    tmp_path: Path, rows: list[tuple[tuple[str, str, str, str], int, int]]
) -> None:
    path = tmp_path / "orders.csv"
    expected_bad = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "customer_id", "ordered_at", "amount", "currency"])
        for i, (row, broken, value) in enumerate(rows):
            fields = [f"o{i}", *row]
            if broken >= 0:  # spoil one of customer_id, ordered_at, amount, currency
                fields[broken + 1] = BAD_VALUES[broken][value % len(BAD_VALUES[broken])]
                expected_bad += 1
            w.writerow(fields)
    ds = rl.read("csv", path)
    report = ds.report
    assert report is not None
    assert report.rows_read == len(rows)
    assert report.rows_read == report.rows_loaded + report.rows_rejected
    assert report.rows_rejected == expected_bad
    assert ds.orders is not None and ds.orders.collect().height == report.rows_loaded
    expected_lines = [i + 2 for i, (_, broken, _) in enumerate(rows) if broken >= 0]
    assert sorted(report.rejects["line"].to_list()) == expected_lines
