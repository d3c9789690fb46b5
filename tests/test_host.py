"""The plugin host keeps working around broken plugins, and never lets a reader's raw error or lie through."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import retainlib as rl
from retainlib import _host
from retainlib.errors import PluginError, RetainlibError, SourceError
from retainlib.load_report import FileLoad, LoadReport
from retainlib.plugins import ReadResult, Source, hookimpl

ORDERS = "order_id,customer_id,ordered_at,amount,currency\no1,c1,2024-01-05T10:00:00Z,10.00,USD\n"


def _orders_file(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS, encoding="utf-8")
    return path


def _one_order(paths: Sequence[Path], *, claim: int = 1, **_: Any) -> ReadResult:
    frame = pl.read_csv(paths[0], infer_schema=False)
    load = FileLoad(file=str(paths[0]), table="orders", rows_read=claim, rows_loaded=claim)
    return ReadResult(dataset=rl.Dataset(orders=frame), report=LoadReport(source="p", files=(load,)))


class _Provider:
    """A plugin providing the given source records (or anything else)."""

    def __init__(self, *items: object, name: str) -> None:
        self.items = items
        self.__name__ = name

    @hookimpl
    def retainlib_sources(self) -> Iterator[object]:
        yield from self.items


def _source(name: str, reader: Any = _one_order, **fields: Any) -> Source:
    return Source(name=name, description="test", kinds=("csv",), reader=reader, **fields)


def test_a_hook_yielding_a_non_source_is_reported_and_the_rest_keeps_working(tmp_path: Path) -> None:
    host = _host.build_host(entry_points=False, plugins=[_Provider("csv2", _source("good"), name="mixed")])
    assert "good" in host.sources and "csv" in host.sources
    assert [(f.name, "not a Source" in f.error) for f in host.failures] == [("mixed", True)]
    ds = host.read(host.sources["csv"], [_orders_file(tmp_path)], {})
    assert ds.orders is not None and ds.orders.collect().height == 1


def test_a_plugin_cannot_take_a_builtin_name(tmp_path: Path) -> None:
    host = _host.build_host(entry_points=False, plugins=[_Provider(_source("csv"), name="impostor")])
    assert host.sources["csv"].plugin == "retainlib._builtin.files"
    assert len(host.failures) == 1
    assert host.failures[0].name == "impostor" and "already taken" in host.failures[0].error
    ds = host.read(host.sources["csv"], [_orders_file(tmp_path)], {})
    assert ds.source == "csv"


def test_two_plugins_with_one_source_name_leave_it_unused_and_say_why() -> None:
    host = _host.build_host(
        entry_points=False, plugins=[_Provider(_source("twin"), name="a"), _Provider(_source("twin"), name="b")]
    )
    assert "twin" not in host.sources and "csv" in host.sources
    assert host.conflicts == {"twin": ("a", "b")}
    with pytest.raises(PluginError, match=r"several plugins \(a, b\)"):
        host.source("twin")


def test_the_installed_cdnow_source_cannot_be_taken_over() -> None:
    host = _host.build_host(plugins=[_Provider(_source("cdnow"), name="late")])
    if "cdnow" in host.conflicts:
        assert "late" in host.conflicts["cdnow"]
    else:  # the cdnow plugin is not installed in this environment
        assert host.sources["cdnow"].plugin == "late"


@pytest.mark.parametrize(
    "error",
    [KeyError("Amount"), ValueError("bad"), pl.exceptions.ComputeError("boom"), ZeroDivisionError()],
    ids=["KeyError", "ValueError", "polars", "ZeroDivisionError"],
)
def test_a_readers_raw_error_becomes_a_source_error_naming_the_plugin(tmp_path: Path, error: Exception) -> None:
    def broken(paths: Sequence[Path], **_: Any) -> ReadResult:
        raise error

    host = _host.build_host(entry_points=False, plugins=[_Provider(_source("shaky", broken), name="shaky-plugin")])
    with pytest.raises(SourceError, match=r"source 'shaky' \(plugin 'shaky-plugin'\) failed") as info:
        host.read(host.sources["shaky"], [_orders_file(tmp_path)], {})
    assert info.value.source == "shaky" and info.value.__cause__ is error


def test_a_report_claiming_more_loaded_rows_than_the_dataset_holds_is_refused(tmp_path: Path) -> None:
    def inflating(paths: Sequence[Path], **_: Any) -> ReadResult:
        return _one_order(paths, claim=5)

    host = _host.build_host(entry_points=False, plugins=[_Provider(_source("inflated", inflating), name="x")])
    with pytest.raises(PluginError, match="5 rows loaded into orders but the dataset holds 1"):
        host.read(host.sources["inflated"], [_orders_file(tmp_path)], {})


def test_a_report_may_group_records_into_fewer_rows(tmp_path: Path) -> None:
    def grouping(paths: Sequence[Path], **_: Any) -> ReadResult:
        result = _one_order(paths)
        load = FileLoad(file=str(paths[0]), table="orders", rows_read=3, rows_loaded=3, rows_out=1)
        return ReadResult(dataset=result.dataset, report=LoadReport(source="p", files=(load,)))

    host = _host.build_host(entry_points=False, plugins=[_Provider(_source("lines", grouping), name="x")])
    ds = host.read(host.sources["lines"], [_orders_file(tmp_path)], {})
    assert ds.report is not None and ds.report.rows_loaded == 3 and ds.report.files[0].records == 1


def test_a_report_naming_a_table_the_dataset_lacks_is_refused(tmp_path: Path) -> None:
    def elsewhere(paths: Sequence[Path], **_: Any) -> ReadResult:
        result = _one_order(paths)
        load = FileLoad(file=str(paths[0]), table="tickets", rows_read=1, rows_loaded=1)
        return ReadResult(dataset=result.dataset, report=LoadReport(source="p", files=(load,)))

    host = _host.build_host(entry_points=False, plugins=[_Provider(_source("tickets", elsewhere), name="x")])
    with pytest.raises(PluginError, match="returned no such table"):
        host.read(host.sources["tickets"], [_orders_file(tmp_path)], {})


@pytest.mark.parametrize(("score", "outcome"), [(10**9, "capped"), ("99", "ignored"), (True, "ignored")])
def test_detector_scores_are_capped_and_must_be_ints(tmp_path: Path, score: object, outcome: str) -> None:
    confident = _source("confident", detector=lambda path, head: 100)
    greedy = _source("greedy", detector=lambda path, head: score)
    host = _host.build_host(entry_points=False, plugins=[_Provider(confident, greedy, name="x")])
    path = _orders_file(tmp_path)
    if outcome == "capped":  # 10**9 counts as 100: a tie with the honest detector, not a win
        with pytest.raises(SourceError, match="several sources recognise this file equally"):
            host.detect(path)
    else:
        assert host.detect(path).name == "confident"


def test_reading_through_the_host_validates_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from retainlib import _dataset

    calls: list[str] = []
    prepare = _dataset._prepare

    def counting(spec: Any, frame: Any, **kwargs: Any) -> Any:
        calls.append(spec.name)
        return prepare(spec, frame, **kwargs)

    monkeypatch.setattr(_dataset, "_prepare", counting)
    host = _host.build_host(entry_points=False)
    ds = host.read(host.sources["csv"], [_orders_file(tmp_path)], {})
    assert ds.report is not None and ds.source == "csv"
    assert calls == ["orders"]


def _rejects_report(file: str) -> LoadReport:
    rejected = pl.DataFrame(
        {"file": [file], "line": [2], "table": ["orders"], "column": ["@amount"], "reason": ["-1 is negative"]}
    )
    return LoadReport(
        source="csv", files=(FileLoad(file=file, table="orders", rows_read=1, rows_loaded=0, rejected=rejected),)
    )


def test_write_rejects_neutralises_formulas(tmp_path: Path) -> None:
    evil = '=HYPERLINK("http://x.example","click").csv'
    out = _rejects_report(evil).write_rejects(tmp_path / "rejects.csv")
    row = pl.read_csv(out, infer_schema=False).row(0)
    assert row == ("'" + evil, "2", "orders", "'@amount", "'-1 is negative")
    for cell in row:
        assert cell[0] not in "=+-@\t\r"


def test_write_rejects_leaves_plain_cells_alone(tmp_path: Path) -> None:
    out = _rejects_report("orders.csv").write_rejects(tmp_path / "r.csv")
    assert pl.read_csv(out, infer_schema=False)["file"].to_list() == ["orders.csv"]


def test_convergence_error_is_importable_from_retainlib() -> None:
    assert issubclass(rl.ConvergenceError, RetainlibError)
    assert "ConvergenceError" in rl.__all__


def test_testing_asserts_work_without_hypothesis() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "from retainlib.testing import assert_canonical, assert_report_balanced\n"
        "from retainlib.load_report import LoadReport\n"
        "assert_report_balanced(LoadReport(source='x'))\n"
        "try:\n"
        "    from retainlib.testing import orders\n"
        "except ImportError as exc:\n"
        "    assert 'retainlib[testing]' in str(exc), exc\n"
        "else:\n"
        "    raise SystemExit('strategies imported without hypothesis')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
