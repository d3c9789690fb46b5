"""Built-in sources ``csv``, ``parquet`` and ``json``: files already in canonical shape.

Each file holds one canonical table, named by the ``table`` option, by the
file's name (``orders.csv``) or, failing both, by its columns.  Columns can be
renamed with ``mapping`` and missing canonical columns filled with
``defaults``.  Rows that cannot be coerced are rejected with their line and
reason; the rest are loaded.

Line numbers: CSV lines count the header as line 1 (a record with a quoted
line break counts as one line); JSON lines count from 1; for a JSON array or a
Parquet file ``line`` is the record's 1-based position.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from retainlib import _conform
from retainlib._dataset import Dataset
from retainlib.errors import OptionError, SchemaError, SourceError
from retainlib.plugins import ReadResult, Source, hookimpl, progress
from retainlib.report import FileLoad, LoadReport
from retainlib.tables import TABLES, TableSpec

_COMMON_OPTIONS = {
    "table": "canonical table the files hold (default: from the file name, else from the columns)",
    "mapping": "column renames, input name -> canonical name",
    "defaults": "constant values for canonical columns the files lack, e.g. {'currency': 'EUR'}",
    "tz": "time zone of naive timestamps (default: naive timestamps are rejected)",
}
_CSV_OPTIONS = {
    **_COMMON_OPTIONS,
    "separator": "field separator (default ',')",
    "encoding": "text encoding (default 'utf-8'; e.g. 'latin-1', 'utf-16')",
}


def _guess_table(path: Path, columns: Sequence[str], table: str | None) -> TableSpec:
    if table is not None:
        if table not in TABLES:
            raise OptionError(f"unknown table {table!r}; tables are {', '.join(TABLES)}", option="table", value=table)
        return TABLES[table]
    stem = path.name.split(".")[0].lower()
    if stem in TABLES:
        return TABLES[stem]
    fits = [t for t in TABLES.values() if all(c in columns for c in t.required)]
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise SourceError(
            "cannot tell which table this file holds: its columns match none "
            f"(columns: {', '.join(columns[:15])}); pass table='orders' (or another) and a mapping",
            file=path,
        )
    fits.sort(key=lambda t: len(t.required), reverse=True)
    if len(fits[0].required) > len(fits[1].required):
        return fits[0]
    raise SourceError(f"the columns fit several tables ({', '.join(t.name for t in fits)}); pass table=", file=path)


def _header_columns(path: Path, head: bytes, separator: str = ",") -> list[str]:
    text = head.decode("utf-8-sig", errors="replace")
    first = text.splitlines()[0] if text else ""
    return [c.strip().strip('"') for c in first.split(separator)]


def _utf8_problem(path: Path) -> str:
    """Where a file stops being UTF-8, for the error message."""
    line = 1
    offset = 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                pos = exc.start
                line += chunk[:pos].count(b"\n")
                return f"line {line}, byte {offset + pos}"
            line += chunk.count(b"\n")
            offset += len(chunk)
    return "somewhere in the file"


def _scan_csv(path: Path, separator: str, encoding: str) -> pl.LazyFrame:
    if path.stat().st_size == 0:
        raise SourceError("the file is empty (not even a header line)", file=path)
    enc = encoding.lower().replace("_", "-")
    if enc in ("utf-8", "utf8", "utf-8-sig"):
        with path.open("rb") as f:
            bom = f.read(4)
        if bom.startswith((b"\xff\xfe", b"\xfe\xff")):
            enc = "utf-16"
        else:
            return pl.scan_csv(path, separator=separator, infer_schema=False, encoding="utf8", raise_if_empty=True)
    try:
        text = path.read_bytes().decode(enc)
    except LookupError:
        raise OptionError(f"unknown encoding {encoding!r}", option="encoding", value=encoding) from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"not valid {encoding} at byte {exc.start}", file=path) from None
    data = io.BytesIO(text.encode("utf-8"))
    return pl.read_csv(data, separator=separator, infer_schema=False).lazy()


def _read_file(
    path: Path,
    frame: pl.LazyFrame,
    *,
    first_line: int,
    table: str | None,
    mapping: Mapping[str, str] | None,
    defaults: Mapping[str, Any] | None,
    tz: str | None,
) -> tuple[TableSpec, pl.DataFrame, FileLoad]:
    try:
        columns = frame.collect_schema().names()
    except pl.exceptions.ComputeError as exc:
        if "utf-8" in str(exc).lower():
            raise SourceError(
                f"not valid UTF-8 ({_utf8_problem(path)}); pass encoding='latin-1' (or the file's encoding)",
                file=path,
            ) from None
        raise SourceError(f"cannot read: {exc}", file=path) from None
    except pl.exceptions.NoDataError:
        raise SourceError("the file is empty (not even a header line)", file=path) from None
    renames = dict(mapping or {})
    absent = [k for k in renames if k not in columns]
    if absent:
        raise SchemaError(
            f"mapping names column(s) {absent} that the file lacks; columns: {columns}",
            table=table or "?",
            column=absent[0],
            expected="present",
            actual=None,
            file=path,
        )
    frame = frame.rename(renames)
    columns = [renames.get(c, c) for c in columns]
    spec = _guess_table(path, columns, table)
    frame = frame.with_row_index(_conform.ROW, offset=first_line)
    conformed = _conform.conform(frame, spec, tz=tz, defaults=defaults, file=path)
    loaded_lf, rejected_lf = _conform.split(conformed, file=str(path))
    try:
        loaded, rejected, count = pl.collect_all([loaded_lf, rejected_lf, frame.select(pl.len())])
    except pl.exceptions.ComputeError as exc:
        if "utf-8" in str(exc).lower():
            raise SourceError(
                f"not valid UTF-8 ({_utf8_problem(path)}); pass encoding='latin-1' (or the file's encoding)",
                file=path,
            ) from None
        raise SourceError(f"cannot read: {exc}", file=path) from None
    load = FileLoad(
        file=str(path), table=spec.name, rows_read=int(count.item()), rows_loaded=loaded.height, rejected=rejected
    )
    progress(path, load.rows_read)
    return spec, loaded, load


def _assemble(name: str, parts: Iterable[tuple[TableSpec, pl.DataFrame, FileLoad]]) -> ReadResult:
    tables: dict[str, list[pl.DataFrame]] = {}
    loads: list[FileLoad] = []
    for spec, frame, load in parts:
        tables.setdefault(spec.name, []).append(frame)
        loads.append(load)
    merged: dict[str, Any] = {t: pl.concat(frames, how="diagonal_relaxed") for t, frames in tables.items()}
    # Rows were checked one file at a time; the full check also catches ids repeated across files.
    dataset = Dataset(**merged, validate="full", source=name)
    return ReadResult(dataset=dataset, report=LoadReport(source=name, files=tuple(loads)))


def read_csv(
    paths: Sequence[Path],
    *,
    table: str | None = None,
    mapping: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    tz: str | None = None,
    separator: str = ",",
    encoding: str = "utf-8",
) -> ReadResult:
    """Read canonical (or mapped) CSV files, one table per file."""
    return _assemble(
        "csv",
        (
            _read_file(
                p,
                _scan_csv(p, separator, encoding),
                first_line=2,
                table=table,
                mapping=mapping,
                defaults=defaults,
                tz=tz,
            )
            for p in paths
        ),
    )


def read_parquet(
    paths: Sequence[Path],
    *,
    table: str | None = None,
    mapping: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    tz: str | None = None,
) -> ReadResult:
    """Read canonical (or mapped) Parquet files, one table per file."""

    def scan(p: Path) -> pl.LazyFrame:
        try:
            frame = pl.scan_parquet(p)
            frame.collect_schema()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise SourceError(f"not a readable Parquet file: {exc}", file=p) from None
        return frame

    return _assemble(
        "parquet",
        (_read_file(p, scan(p), first_line=1, table=table, mapping=mapping, defaults=defaults, tz=tz) for p in paths),
    )


def _scan_json(path: Path) -> pl.LazyFrame:
    raw = path.read_bytes()
    if not raw.strip():
        raise SourceError("the file is empty", file=path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"not valid UTF-8 at byte {exc.start}", file=path) from None
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            records = json.loads(text)
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise SourceError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=path) from None
    if not all(isinstance(r, dict) for r in records):
        raise SourceError("expected an array of objects or JSON lines of objects", file=path)
    # Values are read as text so that one odd value is a rejected row, not a failed file.
    rows = [
        {k: None if v is None else (v if isinstance(v, str) else json.dumps(v)) for k, v in r.items()} for r in records
    ]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String), orient="row").lazy()


def read_json(
    paths: Sequence[Path],
    *,
    table: str | None = None,
    mapping: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    tz: str | None = None,
) -> ReadResult:
    """Read canonical (or mapped) JSON files: an array of flat objects, or JSON lines."""
    return _assemble(
        "json",
        (
            _read_file(p, _scan_json(p), first_line=1, table=table, mapping=mapping, defaults=defaults, tz=tz)
            for p in paths
        ),
    )


def _fits_a_table(columns: Sequence[str]) -> bool:
    return any(all(c in columns for c in t.required) for t in TABLES.values())


def detect_csv(path: Path, head: bytes) -> int:
    """10 for a .csv whose header fits a canonical table, 1 for any other .csv/.tsv."""
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return 0
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    return 10 if _fits_a_table(_header_columns(path, head, sep)) else 1


def detect_parquet(path: Path, head: bytes) -> int:
    """10 for a Parquet file whose columns fit a canonical table, 1 for any other."""
    if not head.startswith(b"PAR1"):
        return 0
    try:
        columns = pl.scan_parquet(path).collect_schema().names()
    except (pl.exceptions.PolarsError, OSError):
        return 1
    return 10 if _fits_a_table(columns) else 1


def detect_json(path: Path, head: bytes) -> int:
    """1 for a .json/.jsonl/.ndjson file: canonical JSON has no marks of its own."""
    del head
    return 1 if path.suffix.lower() in (".json", ".jsonl", ".ndjson") else 0


@hookimpl
def retainlib_sources() -> Iterable[Source]:
    """The built-in file sources."""
    yield Source(
        name="csv",
        description="CSV files already in canonical shape, or mapped to it (one table per file)",
        kinds=("csv", "tsv"),
        reader=read_csv,
        detector=detect_csv,
        options=_CSV_OPTIONS,
    )
    yield Source(
        name="parquet",
        description="Parquet files already in canonical shape, or mapped to it (one table per file)",
        kinds=("parquet",),
        reader=read_parquet,
        detector=detect_parquet,
        options=_COMMON_OPTIONS,
    )
    yield Source(
        name="json",
        description="JSON arrays of flat objects or JSON lines, in canonical shape or mapped (one table per file)",
        kinds=("json", "jsonl"),
        reader=read_json,
        detector=detect_json,
        options=_COMMON_OPTIONS,
    )
