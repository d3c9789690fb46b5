"""Asserts of the canonical contract (no hypothesis needed; re-exported by :mod:`retainlib.testing`)."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from retainlib._dataset import Dataset
from retainlib.errors import OptionError, RetainlibError
from retainlib.load_report import REJECTS_SCHEMA, LoadReport
from retainlib.tables import CURRENCY_PATTERN, TABLES, Kind, TableSpec

__all__ = ["assert_canonical", "assert_read_or_refused", "assert_report_balanced"]

_SHOWN = 5  # offending values shown per problem


# --- asserts ----------------------------------------------------------------------------


def _spec(table: str | TableSpec) -> TableSpec:
    if isinstance(table, TableSpec):
        return table
    if table not in TABLES:
        raise OptionError(f"unknown table {table!r}; tables are {', '.join(TABLES)}", option="table", value=table)
    return TABLES[table]


def _shown(values: pl.Series) -> str:
    items = values.head(_SHOWN).to_list()
    more = f" and {values.len() - _SHOWN} more" if values.len() > _SHOWN else ""
    return ", ".join(repr(v) for v in items) + more


def _schema_problems(spec: TableSpec, schema: pl.Schema, extra: bool) -> list[str]:
    problems: list[str] = []
    names = schema.names()
    canonical = spec.schema.names()
    missing = [c for c in canonical if c not in schema]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    for name, dtype in spec.schema.items():
        if name in schema and schema[name] != dtype:
            problems.append(f"{name}: type {schema[name]}, expected {dtype}")
    if not missing and names[: len(canonical)] != canonical:
        problems.append(f"canonical columns must come first, in order {canonical}; got {names}")
    others = [n for n in names if n not in spec.schema]
    if others and not extra:
        problems.append(f"extra column(s) {others} (pass extra=True to allow segment columns)")
    return problems


def _value_problems(spec: TableSpec, frame: pl.DataFrame) -> list[str]:
    problems: list[str] = []
    for c in spec.columns:
        nulls = frame[c.name].null_count()
        if nulls and not c.nullable:
            problems.append(f"{c.name}: {nulls} null value(s) in a non-nullable column")
    if spec.key is not None:
        key = frame[spec.key]
        repeated = key.filter(key.is_duplicated()).unique(maintain_order=True)
        if repeated.len():
            problems.append(f"{spec.key}: duplicate key(s) {_shown(repeated)}")
    checks: list[tuple[str, pl.Expr]] = []
    for c in spec.columns:
        col = pl.col(c.name)
        if c.kind is Kind.ID:
            checks.append((f"{c.name}: empty id", col.str.strip_chars() == ""))
        elif c.kind is Kind.CURRENCY:
            checks.append((f"{c.name}: not an ISO 4217 code", ~col.str.contains(CURRENCY_PATTERN.pattern)))
        elif c.kind is Kind.SCORE:
            checks.append((f"{c.name}: outside 0..10", ~col.is_between(0, 10)))
        elif c.kind is Kind.EMAIL:
            checks.append(
                (
                    f"{c.name}: not normalised (stripped, lower-case, non-empty)",
                    col != col.str.strip_chars().str.to_lowercase(),
                )
            )
            checks.append((f"{c.name}: empty e-mail (use null)", col == ""))
    for start, end in (("started_at", "ended_at"), ("opened_at", "solved_at")):
        if start in spec.schema and end in spec.schema:
            checks.append((f"{end}: before {start}", pl.col(end) < pl.col(start)))
    if "mrr" in spec.schema:
        checks.append(("mrr: negative", pl.col("mrr") < 0))
    if frame.height and checks:
        flags = frame.select(*(expr.fill_null(False).alias(str(i)) for i, (_, expr) in enumerate(checks)))
        for i, (what, _) in enumerate(checks):
            bad = flags[str(i)]
            if bad.any():
                column = what.split(":", 1)[0]
                problems.append(f"{what} ({bad.sum()} row(s)): {_shown(frame.filter(bad)[column])}")
    return problems


def assert_canonical(frame: pl.DataFrame | pl.LazyFrame, table: str | TableSpec, *, extra: bool = False) -> None:
    """Assert that ``frame`` is a canonical ``table``: exact schema, unique key, rules kept.

    Checks, reporting every failure at once:

    * the schema: every canonical column, first and in order, with exactly
      its canonical type (``Datetime("us", "UTC")``, ``Decimal(38, 4)``...);
      other columns only with ``extra=True`` (segment columns);
    * no null in a non-nullable column (ids, required timestamps, money...);
    * the key column (``order_id``...) is unique;
    * value rules: ids not blank, ISO 4217 currency codes, scores 0..10,
      e-mails normalised, ``ended_at >= started_at``, ``solved_at >=
      opened_at``, ``mrr >= 0``.

    Parameters
    ----------
    frame
        The table (a LazyFrame is collected).
    table
        The canonical table's name (``"orders"``...) or its :class:`~retainlib.tables.TableSpec`.
    extra
        Whether columns beyond the canonical ones are allowed (after them).

    Raises
    ------
    AssertionError
        Listing every problem found.
    retainlib.errors.OptionError
        ``table`` names no canonical table.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from retainlib import Order
    >>> from retainlib.tables import ORDERS
    >>> frame = ORDERS.frame([Order.of("o1", "c1", "2024-03-01T10:00:00+00:00", "9.90")])
    >>> assert_canonical(frame, "orders")
    >>> assert_canonical(pl.concat([frame, frame]), "orders")
    Traceback (most recent call last):
        ...
    AssertionError: not a canonical orders table:
    - order_id: duplicate key(s) 'o1'
    """
    spec = _spec(table)
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if not isinstance(frame, pl.DataFrame):
        raise AssertionError(f"expected a polars DataFrame or LazyFrame, got {type(frame).__name__}")
    problems = _schema_problems(spec, frame.schema, extra)
    if not problems:
        problems = _value_problems(spec, frame)
    if problems:
        raise AssertionError(f"not a canonical {spec.name} table:\n" + "\n".join(f"- {p}" for p in problems))


def assert_report_balanced(report: LoadReport | Dataset, *, records_per_line: bool = False) -> None:
    """Assert that a load report accounts for every row: read = loaded + rejected, file by file.

    Also checks that counts are not negative, that the rejected rows have the
    report's columns (file, line, table, column, reason), name the file they
    belong to and a reason, and that no line is rejected twice.

    Parameters
    ----------
    report
        A :class:`~retainlib.load_report.LoadReport`, or a :class:`~retainlib.Dataset`
        read from files (its ``report``).
    records_per_line
        A line may hold several records (a JSON array on one line, an API page
        per line of JSON lines), each of which may be rejected: a line then may
        appear several times among the rejected rows.

    Raises
    ------
    AssertionError
        Listing every problem found.

    Examples
    --------
    >>> from retainlib.load_report import FileLoad, LoadReport
    >>> assert_report_balanced(LoadReport(source="csv", files=[FileLoad(file="a.csv", table="orders",
    ...                                                                 rows_read=3, rows_loaded=3)]))
    >>> assert_report_balanced(LoadReport(source="csv", files=[FileLoad(file="a.csv", table="orders",
    ...                                                                 rows_read=3, rows_loaded=2)]))
    Traceback (most recent call last):
        ...
    AssertionError: unbalanced load report from source 'csv':
    - a.csv -> orders: 3 read != 2 loaded + 0 rejected
    """
    if isinstance(report, Dataset):
        if report.report is None:
            raise AssertionError("the dataset has no load report (it was not read from files)")
        report = report.report
    if not isinstance(report, LoadReport):
        raise AssertionError(f"expected a LoadReport, got {type(report).__name__}")
    problems: list[str] = []
    for f in report.files:
        where = f"{f.file} -> {f.table or '-'}"
        if f.rows_read < 0 or f.rows_loaded < 0:
            problems.append(f"{where}: negative count ({f.rows_read} read, {f.rows_loaded} loaded)")
        if f.rows_read != f.rows_loaded + f.rows_rejected:
            problems.append(f"{where}: {f.rows_read} read != {f.rows_loaded} loaded + {f.rows_rejected} rejected")
        rejected = f.rejected
        if rejected.schema != REJECTS_SCHEMA:
            problems.append(
                f"{where}: rejected rows have schema {dict(rejected.schema)}, expected {dict(REJECTS_SCHEMA)}"
            )
            continue
        other_files = rejected.filter(pl.col("file") != f.file)["file"].unique()
        if other_files.len():
            problems.append(f"{where}: rejected rows name other file(s) {_shown(other_files)}")
        no_reason = rejected.filter(pl.col("reason").is_null() | (pl.col("reason") == "")).height
        if no_reason:
            problems.append(f"{where}: {no_reason} rejected row(s) without a reason")
        lines = rejected["line"].drop_nulls()
        twice = lines.filter(lines.is_duplicated()).unique().sort()
        if twice.len() and not records_per_line:
            problems.append(f"{where}: line(s) rejected twice: {_shown(twice)}")
    if problems:
        raise AssertionError(
            f"unbalanced load report from source {report.source!r}:\n" + "\n".join(f"- {p}" for p in problems)
        )


def assert_read_or_refused(read: Callable[[], Dataset]) -> Dataset | None:
    """Assert the contract of a read on any input, however messy: it works, or refuses with retainlib's error.

    A file a source cannot read raises a :class:`~retainlib.errors.RetainlibError` of
    its own, never a raw exception, nor the host's wrapper of one (whose ``__cause__``
    is the raw exception); a read that works balances (rows read = rows loaded + rows
    rejected, file by file) and its tables collect.  Meant for fuzzing a source.

    Parameters
    ----------
    read
        Reads the input, e.g. ``lambda: rl.read("stripe", path)``.

    Returns
    -------
    Dataset or None
        The dataset read, or ``None`` when the read refused the input.

    Raises
    ------
    AssertionError
        When a raw exception escapes or is wrapped, or the read does not balance.

    Examples
    --------
    >>> from retainlib.errors import SourceError
    >>> def refused() -> Dataset:
    ...     raise SourceError("the file is empty")
    >>> assert_read_or_refused(refused) is None
    True
    """
    try:
        ds = read()
    except RetainlibError as exc:
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, RetainlibError):
            raise AssertionError(f"a raw {type(cause).__name__} escaped the read: {cause}") from exc
        return None
    except Exception as exc:
        raise AssertionError(f"a raw {type(exc).__name__} escaped the read: {exc}") from exc
    if ds.report is None:
        raise AssertionError("the dataset has no load report (it was not read from files)")
    unbalanced = [f"{f.file} -> {f.table or '-'}" for f in ds.report.files if not f.balanced]
    if unbalanced:
        raise AssertionError(f"rows read != rows loaded + rows rejected for {', '.join(unbalanced)}")
    pl.collect_all(list(ds.tables.values()))
    return ds
