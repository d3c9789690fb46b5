"""The :class:`Dataset`: the canonical tables of one business, held lazily.

A dataset holds up to six canonical tables (see :mod:`retainlib.tables`) as
polars LazyFrames.  It is what sources return, what metrics take, and what
``retainlib read --out DIR`` writes as a folder of Parquet files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import attrs
import polars as pl

from retainlib import _conform
from retainlib.calendar import check_tz
from retainlib.errors import CurrencyError, OptionError, SchemaError, SourceError
from retainlib.load_report import LoadReport
from retainlib.tables import TABLES, TableSpec, parquet_mark

if TYPE_CHECKING:
    from retainlib.tables import TableName

__all__ = ["Dataset", "FrameLike", "Validate"]

#: What a table can be given as: polars frames, or pandas / pyarrow tables.
FrameLike: TypeAlias = pl.DataFrame | pl.LazyFrame | Any
#: How much checking a dataset does on construction:
#: ``"full"`` coerces and checks every row (one pass over the data);
#: ``"schema"`` coerces column types but trusts the values (no pass over the data);
#: ``"none"`` takes the frames as they are (they must already be canonical).
Validate = Literal["full", "schema", "none"]

_META_FILE = "retainlib.json"
_FORMAT_VERSION = 1


def _to_lazy(frame: FrameLike, name: str) -> tuple[pl.LazyFrame, bool]:
    """A LazyFrame for any supported frame, and whether the input was eager."""
    if isinstance(frame, pl.LazyFrame):
        return frame, False
    if isinstance(frame, pl.DataFrame):
        return frame.lazy(), True
    module = type(frame).__module__.split(".")[0]
    if module == "pandas":
        return pl.from_pandas(frame).lazy(), True
    if module == "pyarrow":
        converted = pl.from_arrow(frame)
        if isinstance(converted, pl.DataFrame):
            return converted.lazy(), True
    raise OptionError(
        f"{name}: expected a polars, pandas or pyarrow table, got {type(frame).__name__}",
        option=name,
        value=type(frame).__name__,
    )


def _check_validate(validate: object) -> Validate:
    if validate not in ("full", "schema", "none"):
        raise OptionError("validate is 'full', 'schema' or 'none'", option="validate", value=validate)
    return validate


@attrs.frozen(init=False, repr=False)
class Dataset:
    """Canonical tables of one business, held lazily.

    Build one from frames already in canonical shape (``Dataset(orders=df)``),
    from frames with other column names (:meth:`from_frames`), from a Parquet
    folder (:meth:`read_parquet`) or from a source (:func:`retainlib.read`).
    Every table is optional; a metric says which ones it needs.

    Parameters
    ----------
    customers, orders, subscriptions, tickets, responses, events
        The tables: polars DataFrames or LazyFrames, pandas DataFrames or
        pyarrow Tables.  Extra columns are kept (usable as ``by=`` segments).
    tz
        Time zone of naive timestamps in the input; without it naive input is
        an error.
    validate
        ``"full"`` (default) checks every row and raises one
        :class:`~retainlib.errors.DataError` listing every problem;
        ``"schema"`` only coerces types; ``"none"`` trusts the frames.
    source
        A label for where the data came from (a source name).
    report
        The :class:`~retainlib.load_report.LoadReport` of the read that built it.

    Attributes:
        customers, orders, subscriptions, tickets, responses, events: the
            tables as LazyFrames (``None`` when absent).
        source: where the data came from.
        report: the load report, for datasets read from files.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> orders = pl.DataFrame({
    ...     "order_id": ["o1"], "customer_id": ["c1"], "ordered_at": ["2024-03-01T10:00:00Z"],
    ...     "amount": ["19.90"], "currency": ["usd"]})
    >>> ds = Dataset(orders=orders)
    >>> ds.orders.collect()["amount"].to_list()
    [Decimal('19.9000')]
    """

    customers: pl.LazyFrame | None
    orders: pl.LazyFrame | None
    subscriptions: pl.LazyFrame | None
    tickets: pl.LazyFrame | None
    responses: pl.LazyFrame | None
    events: pl.LazyFrame | None
    source: str | None
    report: LoadReport | None

    def __init__(
        self,
        *,
        customers: FrameLike | None = None,
        orders: FrameLike | None = None,
        subscriptions: FrameLike | None = None,
        tickets: FrameLike | None = None,
        responses: FrameLike | None = None,
        events: FrameLike | None = None,
        tz: str | None = None,
        validate: Validate = "full",
        source: str | None = None,
        report: LoadReport | None = None,
    ) -> None:
        given = {
            "customers": customers,
            "orders": orders,
            "subscriptions": subscriptions,
            "tickets": tickets,
            "responses": responses,
            "events": events,
        }
        mode = _check_validate(validate)
        if tz is not None:
            check_tz(tz)
        tables = {
            name: None if frame is None else _prepare(TABLES[name], frame, tz=tz, validate=mode)
            for name, frame in given.items()
        }
        self.__attrs_init__(**tables, source=source, report=report)

    # --- constructors -------------------------------------------------------------------

    @classmethod
    def from_frames(
        cls,
        *,
        mapping: Mapping[str, Mapping[str, str]] | None = None,
        defaults: Mapping[str, Mapping[str, Any]] | None = None,
        tz: str | None = None,
        validate: Validate = "full",
        source: str | None = None,
        **tables: FrameLike,
    ) -> Dataset:
        """A dataset from frames whose columns need renaming or filling.

        Parameters
        ----------
        mapping
            Per table, input column name -> canonical column name:
            ``{"orders": {"user": "customer_id", "total": "amount"}}``.
        defaults
            Per table, constant values for canonical columns the input lacks:
            ``{"orders": {"currency": "EUR"}}``.
        tz, validate, source
            As for :class:`Dataset`.
        **tables
            The frames, by canonical table name.

        Examples
        --------
        >>> import polars as pl
        >>> df = pl.DataFrame({"id": [1], "user": [7], "when": ["2024-03-01 10:00"], "total": [9.5]})
        >>> ds = Dataset.from_frames(
        ...     orders=df,
        ...     mapping={"orders": {"id": "order_id", "user": "customer_id", "when": "ordered_at", "total": "amount"}},
        ...     defaults={"orders": {"currency": "EUR"}},
        ...     tz="Europe/Paris",
        ... )
        >>> ds.orders.collect().row(0)[:3]
        ('1', '7', datetime.datetime(2024, 3, 1, 9, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')))
        """
        if tz is not None:
            check_tz(tz)
        for what, given in (("mapping", mapping), ("defaults", defaults)):
            if given is not None and not (
                isinstance(given, Mapping)
                and all(
                    isinstance(inner, Mapping) and all(isinstance(k, str) for k in inner) for inner in given.values()
                )
                and (what == "defaults" or all(isinstance(v, str) for inner in given.values() for v in inner.values()))
            ):
                raise OptionError(
                    f"{what} is a dict per table of column -> value, e.g. {{'orders': {{...}}}}, got {given!r}",
                    option=what,
                    value=given,
                )
        mapping = dict(mapping or {})
        defaults = dict(defaults or {})
        for key in [*mapping, *defaults, *tables]:
            if key not in TABLES:
                raise OptionError(f"unknown table {key!r}; tables are {', '.join(TABLES)}", option="table", value=key)
        prepared: dict[str, Any] = {}
        for name, frame in tables.items():
            lazy, eager = _to_lazy(frame, name)
            renames = dict(mapping.get(name, {}))
            if renames:
                present = lazy.collect_schema().names()
                lazy = lazy.rename(_conform.check_renames(present, renames, table=name))
            prepared[name] = _prepare(
                TABLES[name],
                lazy,
                tz=tz,
                validate=_check_validate(validate),
                defaults=defaults.get(name),
                eager=eager,
            )
        return cls(**prepared, validate="none", source=source)

    @classmethod
    def read_parquet(cls, folder: str | Path, *, validate: Validate = "schema") -> Dataset:
        """A dataset from a folder written by :meth:`write_parquet`, scanned lazily.

        A table is ``folder/<table>.parquet`` or a folder ``folder/<table>/``
        of ``.parquet`` part files with the same schema (as
        :func:`retainlib.samples.write_synthetic_parquet` writes), read as one.
        """
        root = Path(folder)
        if not root.is_dir():
            raise SourceError("not a folder holding a retainlib dataset", file=root)
        meta_path = root / _META_FILE
        meta: dict[str, Any] = {}
        if meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise SourceError(f"unreadable dataset metadata: {exc}", file=meta_path) from exc
        tables: dict[str, Any] = {}
        for name in TABLES:
            single, parts = root / f"{name}.parquet", root / name
            if single.exists():
                tables[name] = pl.scan_parquet(single)
            elif parts.is_dir() and any(parts.glob("*.parquet")):
                # A table written in parts (one file per block): scanned as one table.
                tables[name] = pl.scan_parquet(parts / "*.parquet")
        if not tables:
            raise SourceError(
                f"no table files found (expected some of {', '.join(n + '.parquet' for n in TABLES)}, "
                "or folders of that name holding .parquet parts)",
                file=root,
            )
        return cls(**tables, validate=validate, source=meta.get("source"))

    # --- access -------------------------------------------------------------------------

    @property
    def tables(self) -> dict[str, pl.LazyFrame]:
        """The tables present, by name."""
        return dict(self._items())

    def _items(self) -> Iterator[tuple[str, pl.LazyFrame]]:
        for name in TABLES:
            frame = getattr(self, name)
            if frame is not None:
                yield name, frame

    def require(self, name: TableName, *, purpose: str = "this") -> pl.LazyFrame:
        """The table ``name``, or a clear error saying ``purpose`` needs it."""
        frame: pl.LazyFrame | None = getattr(self, name, None) if name in TABLES else None
        if frame is None:
            present = ", ".join(self.tables) or "no tables"
            raise SchemaError(
                f"{purpose} needs the {name} table; the dataset has {present}",
                table=name,
                column="*",
                expected="present",
                actual=None,
            )
        return frame

    def with_tables(self, **tables: FrameLike | None) -> Dataset:
        """A copy with some tables replaced (validated like the constructor)."""
        current: dict[str, Any] = {**self.tables}
        current.update(tables)
        return Dataset(**current, validate="full", source=self.source, report=self.report)

    def relabel(self, *, source: str | None = None, report: LoadReport | None = None) -> Dataset:
        """The same tables with another source label and/or load report (nothing validated again)."""
        copy = object.__new__(Dataset)
        copy.__attrs_init__(
            **{name: getattr(self, name) for name in TABLES},
            source=self.source if source is None else source,
            report=self.report if report is None else report,
        )
        return copy

    def collect(self) -> Dataset:
        """A copy whose tables are materialised in memory (still exposed as LazyFrames)."""
        frames = pl.collect_all(list(self.tables.values()))
        eager: dict[str, Any] = {name: f.lazy() for name, f in zip(self.tables, frames, strict=True)}
        return Dataset(**eager, validate="none", source=self.source, report=self.report)

    def counts(self) -> dict[str, int]:
        """Row count of every table present (one pass over each)."""
        lengths = pl.collect_all([f.select(pl.len()) for f in self.tables.values()])
        return {name: int(df.item()) for name, df in zip(self.tables, lengths, strict=True)}

    def currencies(self) -> list[str]:
        """Every currency used by the money tables (orders, subscriptions), sorted."""
        found: set[str] = set()
        for name in ("orders", "subscriptions"):
            frame = getattr(self, name)
            if frame is not None:
                found.update(frame.select(pl.col("currency").unique()).collect().to_series().drop_nulls())
        return sorted(found)

    def single_currency(self) -> str | None:
        """The one currency of the dataset's money, ``None`` when it has none.

        Raises :class:`~retainlib.errors.CurrencyError` when there are several:
        retainlib never adds amounts in different currencies.
        """
        found = self.currencies()
        CurrencyError.check(found, "the dataset's tables")
        return found[0] if found else None

    # --- storage ------------------------------------------------------------------------

    def write_parquet(self, folder: str | Path) -> Path:
        """Write every table to ``folder/<table>.parquet`` (plus metadata); return the folder.

        Parquet keeps the exact types (decimal money, UTC timestamps, enums), so
        :meth:`read_parquet` gives back an equal dataset.
        """
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        for stale in TABLES:
            if stale not in self.tables and (root / f"{stale}.parquet").exists():
                (root / f"{stale}.parquet").unlink()
        for name, frame in self._items():
            frame.sink_parquet(root / f"{name}.parquet", metadata=parquet_mark(name))
        meta = {
            "format": "retainlib-dataset",
            "version": _FORMAT_VERSION,
            "source": self.source,
            "tables": list(self.tables),
        }
        (root / _META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return root

    # --- merging ------------------------------------------------------------------------

    def merge(self, *others: Dataset, match_ids: bool = True) -> Dataset:
        """This dataset and others as one, with each customer once.

        See :func:`retainlib.merge`.
        """
        from retainlib._merge import merge

        return merge([self, *others], match_ids=match_ids)

    def __repr__(self) -> str:
        parts = []
        for name, frame in self._items():
            cols = frame.collect_schema().names()
            parts.append(f"{name}[{len(cols)} columns]")
        src = f" source={self.source!r}" if self.source else ""
        return f"<Dataset{src} {' '.join(parts) or 'empty'}>"

    def equals(self, other: Dataset) -> bool:
        """Whether both datasets hold the same tables with equal contents (collects both)."""
        if list(self.tables) != list(other.tables):
            return False
        return all(
            a.collect().equals(b.collect()) for a, b in zip(self.tables.values(), other.tables.values(), strict=True)
        )


def _prepare(
    spec: TableSpec,
    frame: FrameLike,
    *,
    tz: str | None,
    validate: Validate,
    defaults: Mapping[str, Any] | None = None,
    eager: bool | None = None,
) -> pl.LazyFrame:
    lazy, was_eager = _to_lazy(frame, spec.name)
    if eager is None:
        eager = was_eager
    if validate == "none":
        return lazy
    conformed = _conform.conform(
        lazy,
        spec,
        tz=tz,
        defaults=defaults,
        trust_canonical=validate == "schema",
        check_duplicates=validate == "full",
    )
    if validate == "full":
        _conform.raise_problems(conformed)
    out = conformed.output(conformed.frame)
    return out.collect().lazy() if eager else out
