"""The ``sql`` source's options: declared once, checked once, handed to the layouts as one record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from retainlib.calendar import check_tz
from retainlib.errors import OptionError
from retainlib.tables import TABLES

__all__ = ["LAYOUTS", "OPTIONS", "Layout", "Options"]

Layout = Literal["fivetran_shopify", "fivetran_stripe", "airbyte_shopify", "airbyte_stripe"]
#: The connector layouts this source knows.
LAYOUTS: tuple[Layout, ...] = ("fivetran_shopify", "fivetran_stripe", "airbyte_shopify", "airbyte_stripe")
_CANONICAL = ("customers", "orders", "subscriptions", "tickets", "responses", "events")

#: The reader's options, name -> description (what ``retainlib sources`` shows).
OPTIONS = {
    "layout": "the connector that wrote the tables: " + ", ".join(LAYOUTS) + "; omit it to read one query or table",
    "schema": "the database schema holding the connector's tables (or the table given); default: the current one",
    "query": "without a layout: a SQL query whose rows are one canonical table (see into)",
    "table": "without a layout: a database table whose rows are one canonical table (see into)",
    "into": "without a layout: the canonical table the query or table holds (orders, customers, subscriptions...)",
    "mapping": "without a layout: rename columns of the result, {from: to}",
    "defaults": "without a layout: constant values of canonical columns the result lacks, e.g. {currency: EUR}",
    "tz": "time zone of timestamps stored without one (default UTC, as Fivetran and Airbyte store them)",
    "tables": "with a layout: the canonical tables to read (e.g. 'orders' or ['orders', 'customers']); default all",
    "since": "read only rows at or after this date or instant (pushed into the SQL), e.g. 2024-01-01",
    "until": "read only rows before this date or instant (pushed into the SQL)",
    "invoices": "Stripe: 'orders' (default) makes paid invoices orders and their charges duplicates; 'skip' reads "
    "charges only",
}


def _instant(value: object, option: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    elif isinstance(value, dt.date):
        stamp = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    elif isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise OptionError(
                f"{option} is a date or an ISO instant (2024-01-01, 2024-01-01T12:00:00Z), got {value!r}",
                option=option,
                value=value,
            ) from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.UTC)
    else:
        raise OptionError(f"{option} is a date or an ISO instant, got {value!r}", option=option, value=value)
    return stamp.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ") + "+00:00"


def _mapping(value: object, option: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise OptionError(f"{option} is a mapping {{name: value}}, got {value!r}", option=option, value=value)
    return {str(k): v for k, v in value.items()}


@attrs.frozen(kw_only=True)
class Options:
    """The checked options of one read (see :data:`OPTIONS`)."""

    layout: Layout | None = None
    schema: str | None = None
    query: str | None = None
    table: str | None = None
    into: str | None = None
    mapping: dict[str, str] = attrs.field(factory=dict)
    defaults: dict[str, Any] = attrs.field(factory=dict)
    tz: str = "UTC"
    tables_given: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    invoices: Literal["orders", "skip"] = "orders"

    def wants(self, table: str) -> bool:
        """Whether the canonical ``table`` is to be read."""
        return not self.tables_given or table in self.tables_given

    @classmethod
    def of(cls, **options: Any) -> Options:
        """Check option values (strings, as the command line gives them, or Python values)."""
        unknown = [k for k in options if k not in OPTIONS]
        if unknown:
            raise OptionError(f"unknown option {unknown[0]!r}", option=unknown[0], value=options[unknown[0]])
        layout = options.get("layout")
        if layout is not None:
            layout = OptionError.one_of(
                layout, LAYOUTS, option="layout", message=f"layout is one of {', '.join(LAYOUTS)}, got {layout!r}"
            )
        query, table, into = options.get("query"), options.get("table"), options.get("into")
        for name, value in (("query", query), ("table", table), ("into", into), ("schema", options.get("schema"))):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise OptionError(f"{name} is a non-empty string, got {value!r}", option=name, value=value)
        if layout is None:
            if (query is None) == (table is None):
                raise OptionError(
                    "give a layout (the connector that wrote the tables), or exactly one of query= and table= "
                    "with into= (the canonical table they hold)",
                    option="query",
                    value=query,
                )
            if into is None:
                raise OptionError(
                    "into= names the canonical table the rows are (orders, customers, subscriptions, tickets, "
                    "responses, events)",
                    option="into",
                    value=into,
                )
            OptionError.one_of(
                into, _CANONICAL, option="into", message=f"into is one of {', '.join(TABLES)}, got {into!r}"
            )
        elif query is not None or table is not None or into is not None:
            raise OptionError(
                "query=, table= and into= read without a layout; drop them or the layout", option="layout", value=layout
            )
        raw_tables = options.get("tables")
        given: tuple[str, ...] = ()
        if raw_tables is not None:
            items = [t.strip() for t in raw_tables.split(",")] if isinstance(raw_tables, str) else list(raw_tables)
            for t in items:
                OptionError.one_of(
                    t,
                    ("customers", "orders", "subscriptions"),
                    option="tables",
                    message=f"tables lists customers, orders, subscriptions; got {t!r}",
                )
            given = tuple(items)
        invoices = options.get("invoices") or "orders"
        invoices = OptionError.one_of(
            invoices, ("orders", "skip"), option="invoices", message=f"invoices is 'orders' or 'skip', got {invoices!r}"
        )
        tz = options.get("tz") or "UTC"
        return cls(
            layout=layout,
            schema=options.get("schema"),
            query=query,
            table=table,
            into=into,
            mapping={k: str(v) for k, v in _mapping(options.get("mapping"), "mapping").items()},
            defaults=_mapping(options.get("defaults"), "defaults"),
            tz=check_tz(tz),
            tables_given=given,
            since=_instant(options.get("since"), "since"),
            until=_instant(options.get("until"), "until"),
            invoices="skip" if invoices == "skip" else "orders",
        )
