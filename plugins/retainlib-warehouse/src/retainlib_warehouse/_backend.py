"""Connections to a database: PostgreSQL through ADBC, DuckDB in process; results as Arrow record batches.

Both backends hand over Arrow record batches, never Python rows: ADBC's
PostgreSQL driver reads the server's binary ``COPY`` output straight into Arrow
(``fetch_record_batch``), DuckDB writes its vectors as Arrow
(``to_arrow_reader``).  Every error is a :class:`~retainlib.errors.RetainlibError`
whose text never holds the credentials of the connection string: the
password, and the user's name in the URI, are replaced by ``***`` wherever a
driver's message quotes them.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs
import polars as pl

from retainlib.errors import SchemaError, SourceError

if TYPE_CHECKING:  # pyarrow is imported when a query runs: loading the plugin stays cheap
    import pyarrow as pa  # type: ignore[import-untyped]

__all__ = ["Connection", "TableRef", "WarehouseError", "connect", "redact"]

Kind = Literal["postgresql", "duckdb"]

#: Rows per record batch asked of DuckDB (PostgreSQL batches by bytes: ADBC's default of 16 MiB).
DUCKDB_BATCH_ROWS = 262_144

_SCHEMES_PG = ("postgresql", "postgres")
_SCHEMES_DUCKDB = ("duckdb",)
_DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")


class WarehouseError(SourceError):
    """The database cannot be reached or read: server unreachable, credentials refused, a table missing.

    Attributes:
        database: the connection string with its credentials masked.
        table: the database table concerned, when there is one.
        column: the column concerned, when there is one.
    """

    def __init__(self, message: str, *, database: str, table: str | None = None, column: str | None = None) -> None:
        where = database + (f", table {table}" if table else "") + (f", column {column}" if column else "")
        super().__init__(f"{where}: {message}", source="sql")
        self.database = database
        self.table = table
        self.column = column


def _secrets(uri: str) -> list[str]:
    """The parts of a connection string that must never be shown: password (and user), in both spellings."""
    found: list[str] = []
    try:
        parts = urllib.parse.urlsplit(uri)
        if parts.password:
            found += [parts.password, urllib.parse.unquote(parts.password)]
        for key, values in urllib.parse.parse_qs(parts.query).items():
            if key.lower() in {"password", "sslpassword", "passfile"}:
                found += values
    except ValueError:
        pass
    for match in re.finditer(r"password\s*=\s*('[^']*'|\S+)", uri, flags=re.IGNORECASE):
        found.append(match.group(1).strip("'"))
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact(uri: str) -> str:
    """The connection string with its password (and any ``password=`` parameter) masked as ``***``."""
    text = uri
    try:
        parts = urllib.parse.urlsplit(uri)
        if parts.password is not None:
            user = parts.username or ""
            host = parts.hostname or ""
            if parts.port is not None:
                host = f"{host}:{parts.port}"
            netloc = f"{user}:***@{host}" if user else f"***@{host}"
            text = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        text = re.sub(r"//[^@/]*@", "//***@", uri)
    text = re.sub(r"(password\s*=\s*)('[^']*'|[^&\s]+)", r"\1***", text, flags=re.IGNORECASE)
    return scrub(text, _secrets(uri))


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


@attrs.frozen(kw_only=True)
class TableRef:
    """A table of the database: its name and, optionally, its schema (``shopify.order``).

    Attributes:
        name: the table's name, as stored (case kept).
        schema: the schema it lives in; ``None``: the connection's current schema.
    """

    name: str
    schema: str | None = None

    def sql(self) -> str:
        """The table as a quoted SQL identifier (``"shopify"."order"``)."""
        return (quote(self.schema) + "." if self.schema else "") + quote(self.name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


def quote(identifier: str) -> str:
    """A SQL identifier, double-quoted (``order`` is a reserved word; case is kept)."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _kind(uri: str) -> tuple[Kind, str]:
    """The backend of a connection string and what its driver takes (a URI, or DuckDB's file path)."""
    scheme, sep, rest = uri.partition(":")
    scheme = scheme.lower()
    if sep and scheme in _SCHEMES_PG:
        return "postgresql", uri
    if sep and scheme in _SCHEMES_DUCKDB:
        path = rest[2:] if rest.startswith("//") else rest
        return "duckdb", path or ":memory:"
    if uri.lower().endswith(_DUCKDB_SUFFIXES) or Path(uri).is_file():
        return "duckdb", uri
    raise WarehouseError(
        "not a connection string this source reads: give postgresql://user:password@host:port/database, "
        "duckdb:///path/to/file.duckdb or the path of a DuckDB file",
        database=redact(uri),
    )


def _arrow_to_polars(batch: pa.RecordBatch) -> pl.DataFrame:
    """One record batch as a polars frame; driver-specific extension types (PostgreSQL numeric) as their storage."""
    import pyarrow as pa  # heavy: imported when a query runs, not when the plugin loads

    columns: list[pa.Array] = []
    fields: list[pa.Field] = []
    changed = False
    for given, array in zip(batch.schema, batch.columns, strict=True):
        column, field = array, given
        if isinstance(given.type, pa.BaseExtensionType):
            column = array.storage
            field = pa.field(given.name, column.type)
            changed = True
        columns.append(column)
        fields.append(field)
    if changed:
        batch = pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))
    frame = pl.from_arrow(batch, rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return frame


@attrs.define
class Connection:
    """An open connection; reads query results as polars frames, one Arrow record batch at a time.

    Attributes:
        kind: ``"postgresql"`` or ``"duckdb"``.
        label: the connection string with its credentials masked (for messages and reports).
    """

    kind: Kind
    label: str
    _raw: Any = attrs.field(repr=False)
    _secrets: list[str] = attrs.field(repr=False, factory=list)

    def error(self, message: str, *, table: str | None = None, column: str | None = None) -> WarehouseError:
        """A :class:`WarehouseError` about this database, credentials scrubbed from ``message``."""
        return WarehouseError(scrub(message, self._secrets), database=self.label, table=table, column=column)

    def columns(self, table: TableRef) -> dict[str, str] | None:
        """The table's columns (name -> lower-case type name), or ``None`` when there is no such table."""
        schema = literal(table.schema) if table.schema else "current_schema()"
        sql = (
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = {schema} AND table_name = {literal(table.name)} ORDER BY ordinal_position"
        )
        frame = self.frame(sql)
        if frame.height == 0:
            return None
        names = frame["column_name"].cast(pl.String)
        return dict(zip(names, frame["data_type"].cast(pl.String).str.to_lowercase(), strict=True))

    def frame(self, sql: str) -> pl.DataFrame:
        """The whole result of ``sql`` (small results: catalogue look-ups)."""
        parts = list(self.batches(sql))
        if not parts:
            return pl.DataFrame()
        return pl.concat(parts, how="vertical_relaxed")

    def batches(self, sql: str, *, table: str | None = None) -> Iterator[pl.DataFrame]:
        """The result of ``sql`` as polars frames, one per Arrow record batch (at least one, maybe empty)."""
        try:
            if self.kind == "duckdb":
                relation = self._raw.sql(sql)
                reader = (
                    relation.to_arrow_reader(DUCKDB_BATCH_ROWS)
                    if hasattr(relation, "to_arrow_reader")
                    else relation.fetch_arrow_reader(DUCKDB_BATCH_ROWS)
                )
                cursor = None
            else:
                cursor = self._raw.cursor()
                cursor.execute(sql)
                reader = cursor.fetch_record_batch()
            try:
                empty = True
                for batch in reader:
                    empty = False
                    yield _arrow_to_polars(batch)
                if empty:
                    import pyarrow as pa

                    yield _arrow_to_polars(pa.RecordBatch.from_pylist([], schema=reader.schema))
            finally:
                if cursor is not None:
                    cursor.close()
        except (SchemaError, WarehouseError):
            raise
        except Exception as exc:
            if self.kind == "postgresql":
                self._rollback()
            raise self.error(f"the query failed: {_first_line(exc)}", table=table) from None

    def _rollback(self) -> None:
        try:
            self._raw.rollback()
        except Exception:  # the connection may be gone; the error raised says why
            return

    def close(self) -> None:
        """Close the connection (errors on closing are ignored)."""
        try:
            self._raw.close()
        except Exception:
            return

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [line for line in text.splitlines() if line.strip()]
    return " ".join(lines[:3])


def connect(uri: str) -> Connection:
    """Open the database named by ``uri`` (``postgresql://...``, ``duckdb:///file.duckdb`` or a DuckDB file path).

    DuckDB files are opened read-only.  Raises :class:`WarehouseError` (credentials masked) when
    the server cannot be reached, refuses the credentials or the file is missing.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise WarehouseError("no connection string given", database="<none>")
    uri = uri.strip()
    label = redact(uri)
    secrets = _secrets(uri)
    kind, target = _kind(uri)
    try:
        if kind == "duckdb":
            import duckdb

            if target != ":memory:" and not Path(target).is_file():
                raise WarehouseError("no such DuckDB file", database=label)
            raw: Any = duckdb.connect(target, read_only=target != ":memory:")
        else:
            import adbc_driver_postgresql.dbapi as pg  # type: ignore[import-untyped]

            raw = pg.connect(target)
    except WarehouseError:
        raise
    except Exception as exc:
        reason = scrub(_first_line(exc), secrets)
        raise WarehouseError(f"cannot connect: {reason}", database=label) from None
    return Connection(kind=kind, label=label, raw=raw, secrets=secrets)
