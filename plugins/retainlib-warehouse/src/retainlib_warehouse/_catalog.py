"""What a schema of the database holds, and the SQL fragments that adapt to it (types differ by connector).

A connector's tables are read through :class:`Catalog`: it looks each table's
columns up once (``information_schema``, the same in PostgreSQL and DuckDB),
names the table and column in every error, and writes the few expressions
whose SQL depends on how a column was stored (a flag stored as ``boolean`` or
as text, a time stored as ``timestamptz``, naive ``timestamp`` or epoch
seconds, money as ``numeric``, ``double precision`` or text).
"""

from __future__ import annotations

import attrs

from retainlib.errors import SchemaError
from retainlib_warehouse._backend import Connection, TableRef, quote

__all__ = ["SUPERSEDED", "Catalog", "View"]

_NUMBER = ("numeric", "decimal", "double", "real", "float", "integer", "bigint", "smallint", "hugeint", "int")
_TEXT = ("character", "text", "varchar", "string", "json")
_TIME = ("timestamp", "date")


def is_number(sql_type: str) -> bool:
    """Whether a column type (``information_schema`` spelling) holds numbers."""
    return sql_type.startswith(_NUMBER) or sql_type.startswith("ubigint") or sql_type.startswith("uinteger")


def is_text(sql_type: str) -> bool:
    """Whether a column type holds text (or JSON)."""
    return sql_type.startswith(_TEXT)


@attrs.frozen(kw_only=True)
class View:
    """A table the layouts read that is a query over what the connector stored (an Airbyte stream, say).

    Attributes:
        label: what errors and the load report call it (``shopify.orders``).
        body: the ``SELECT`` giving its rows.
        columns: its columns, name -> type (``information_schema`` spelling).
    """

    label: str
    body: str
    columns: dict[str, str]

    def sql(self) -> str:
        """The view as a parenthesised subquery, to put after ``FROM``."""
        return f"({self.body})"

    def __str__(self) -> str:
        return self.label


#: Column of a view saying an Airbyte row is an older version of its primary key (a later one is kept).
SUPERSEDED = "_superseded"


@attrs.define
class Catalog:
    """The tables of one schema, looked up lazily, with type-aware SQL fragments.

    Attributes:
        conn: the open connection.
        schema: the schema the connector wrote to (``None``: the connection's current schema).
        views: tables that are queries over the stored ones (Airbyte streams under the names the
            layouts read); with ``views``, only they exist.
        deleted: the soft-delete flag of Shopify rows (``_fivetran_deleted``; Airbyte: ``deleted_at``).
        refunds: a query ``order_id, refunded`` the layout supplies (Airbyte: refund transactions).
    """

    conn: Connection
    schema: str | None = None
    views: dict[str, View] | None = None
    deleted: str = "_fivetran_deleted"
    refunds: str | None = None
    _seen: dict[str, dict[str, str] | None] = attrs.field(factory=dict)

    def ref(self, table: str) -> TableRef | View:
        """The table as a reference in this schema (or the view of that name)."""
        if self.views is not None and table in self.views:
            return self.views[table]
        return TableRef(name=table, schema=self.schema)

    def columns(self, table: str) -> dict[str, str] | None:
        """The table's columns (name -> type), or ``None`` when it does not exist."""
        if self.views is not None:
            view = self.views.get(table)
            return None if view is None else view.columns
        if table not in self._seen:
            ref = self.ref(table)
            assert isinstance(ref, TableRef)
            self._seen[table] = self.conn.columns(ref)
        return self._seen[table]

    def superseded(self, alias: str, table: str) -> list[tuple[str, str, str]]:
        """The rule rejecting older versions of a row (Airbyte append mode), when the view marks them."""
        if not self.has(table, SUPERSEDED):
            return []
        return [
            (
                f"{alias}.{quote(SUPERSEDED)}",
                "'older version (a later sync of this id is kept: greatest cursor, then latest _airbyte_extracted_at)'",
                SUPERSEDED,
            )
        ]

    def latest(self, table: str) -> str:
        """The table as a ``FROM`` item holding only the kept version of each row."""
        sql = self.ref(table).sql()
        if self.has(table, SUPERSEDED):
            return f"(SELECT * FROM {sql} z WHERE NOT z.{quote(SUPERSEDED)})"
        return sql

    def has(self, table: str, column: str | None = None) -> bool:
        """Whether the table (and the column) exists."""
        cols = self.columns(table)
        return cols is not None and (column is None or column in cols)

    def need(self, table: str, *columns: str, why: str = "") -> dict[str, str]:
        """The table's columns; raises naming the table (and the first missing column) when absent."""
        cols = self.columns(table)
        if cols is None:
            hint = f" ({why})" if why else ""
            where = f"schema {self.schema!r}" if self.schema else "the connection's current schema"
            if self.views is not None:
                where += " (nor a table the connector stores it in)"
            raise self.conn.error(
                f"no table {table!r} in {where}{hint}; pass schema= if it lives elsewhere", table=table
            )
        for column in columns:
            if column not in cols:
                raise SchemaError(
                    f"column missing (the table has: {', '.join(list(cols)[:25])})",
                    table=str(self.ref(table)),
                    column=column,
                    expected="a column of this name",
                    actual=None,
                )
        return cols

    def first(self, table: str, *candidates: str) -> str | None:
        """The first of ``candidates`` the table has."""
        cols = self.columns(table) or {}
        return next((c for c in candidates if c in cols), None)

    def first_table(self, *candidates: str) -> str | None:
        """The first of the ``candidates`` tables the schema has."""
        return next((t for t in candidates if self.has(t)), None)

    def type_of(self, table: str, column: str) -> str:
        """The column's type (lower case)."""
        return (self.columns(table) or {})[column]

    def _bad_type(self, table: str, column: str, expected: str) -> SchemaError:
        actual = self.type_of(table, column)
        return SchemaError(
            f"unexpected type {actual} (expected {expected})",
            table=str(self.ref(table)),
            column=column,
            expected=expected,
            actual=actual,
        )

    # --- fragments -------------------------------------------------------------------------

    def flag(self, alias: str, table: str, column: str) -> str:
        """SQL true where the flag column is set (boolean, or text/number ``true``/``t``/``1``); false if absent."""
        if not self.has(table, column):
            return "FALSE"
        sql_type = self.type_of(table, column)
        ref = f"{alias}.{quote(column)}"
        if sql_type.startswith("bool"):
            return f"COALESCE({ref}, FALSE)"
        if is_text(sql_type) or is_number(sql_type):
            return f"COALESCE(LOWER(CAST({ref} AS VARCHAR)) IN ('true', 't', '1', 'yes'), FALSE)"
        raise self._bad_type(table, column, "a boolean")

    def money(self, alias: str, table: str, column: str, *, minor: bool = False) -> str:
        """The money column as exact ``NUMERIC(38, 4)`` (or ``BIGINT`` minor units with ``minor``)."""
        sql_type = self.type_of(table, column)
        ref = f"{alias}.{quote(column)}"
        if not (is_number(sql_type) or is_text(sql_type)):
            raise self._bad_type(table, column, "a number" if not minor else "an integer of minor units")
        if minor:
            return f"CAST({ref} AS BIGINT)"
        return f"CAST({ref} AS NUMERIC(38, 4))"

    def text(self, alias: str, table: str, column: str) -> str:
        """The column as text (ids stored as integers become their digits)."""
        sql_type = self.type_of(table, column)
        ref = f"{alias}.{quote(column)}"
        if sql_type.startswith(("numeric", "decimal", "double", "real", "float")):
            return f"CAST(CAST({ref} AS BIGINT) AS VARCHAR)"
        return f"CAST({ref} AS VARCHAR)"

    def time(self, alias: str, table: str, column: str) -> str:
        """The column as a timestamp: kept as stored when a timestamp (naive ones are UTC), epoch seconds converted."""
        sql_type = self.type_of(table, column)
        ref = f"{alias}.{quote(column)}"
        if sql_type.startswith(_TIME) or is_text(sql_type):
            return ref
        if is_number(sql_type):
            return f"TO_TIMESTAMP(CAST({ref} AS DOUBLE PRECISION))"
        raise self._bad_type(table, column, "a timestamp or epoch seconds")

    def time_bound(self, expr_sql: str, table: str, column: str, op: str, value: str) -> str:
        """A filter ``expr op value`` (``value`` an ISO instant in UTC) written for the column's type."""
        sql_type = self.type_of(table, column)
        stamp = value.replace("T", " ").removesuffix("+00:00").removesuffix("Z")
        if "with time zone" in sql_type or sql_type in {"timestamptz", "timestamp_tz"} or is_number(sql_type):
            return f"{expr_sql} {op} CAST('{stamp}+00:00' AS TIMESTAMPTZ)"
        if is_text(sql_type):
            return f"CAST({expr_sql} AS TIMESTAMP) {op} CAST('{stamp}' AS TIMESTAMP)"
        return f"{expr_sql} {op} CAST('{stamp}' AS TIMESTAMP)"
