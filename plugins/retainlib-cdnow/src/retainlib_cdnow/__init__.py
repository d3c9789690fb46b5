"""retainlib source ``cdnow``: the CDNOW / BTYD transaction logs.

The CDNOW data set (Fader & Hardie) is a log of CD purchases, one line per
transaction: who bought, on which day, how many CDs, for how many dollars.  It
circulates in four shapes, all read by this source:

* the **master** file (``CDNOW_master.txt``): whitespace-separated
  ``customer YYYYMMDD cds dollars``; lifetimes adds a header line
  ``customer_id date number_of_cds dollar_value``;
* the **sample** file (``CDNOW_sample.txt``): whitespace-separated, no header,
  ``master_id sample_id YYYYMMDD cds dollars``;
* BTYD's ``cdnowElog.csv``: CSV with the header ``masterid,sampleid,date,cds,sales``;
* CLVTools' ``cdnow.csv``: CSV with the header ``Id,Date,CDs,Price`` and ISO dates
  (``Id`` is the *sample* id; same-day transactions are already merged).

Whitespace files are told apart by their number of fields (4: master, 5:
sample); CSV files by their header, whose names may also be ``cust``, ``id``,
``customer_id``, ``date``, ``cds``, ``number_of_cds``, ``sales``, ``price``,
``dollar_value`` or ``dollars`` in any order.  Dates are ``YYYYMMDD`` or
``YYYY-MM-DD`` in either kind of file.

What the source produces:

* ``orders``: ``order_id``, ``customer_id``, ``ordered_at`` (the first instant
  of the day in the ``tz`` option's zone, as :meth:`retainlib.calendar.Calendar.instant`
  defines it: midnight, or the jump when summer time skips midnight; stored in UTC), ``amount``,
  ``currency`` (the ``currency`` option) and the extra columns ``quantity``
  (the number of CDs) and, for files that carry it, ``sample_id``;
* ``customers``: one row per customer who has a loaded order, ``created_at``
  being the first order's time.

Customer ids lose their leading zeros (``00004`` -> ``4``) so that the master
file, the sample file and BTYD's log name each customer alike.  Order ids are
synthesized as ``<customer>-<YYYYMMDD>-<n>``, ``n`` numbering the customer's
lines of that day in file order from 1 (rejected lines included, so that fixing a
bad line does not renumber the others): the same transaction gets the same id
from the master file, the sample file and BTYD's log, so reading two of them
together fails on duplicate order ids instead of counting sales twice.

Every non-blank line after the header is a record: loaded, or rejected with its
file, physical line number (from 1, a header being line 1) and reason, so rows read = loaded +
rejected.  A line is rejected for a wrong number of fields, a customer id,
quantity or sample id that is not a whole number, a date that is not a
calendar day, or an amount that is not a decimal number with at most 4
places and 20 integer digits (retainlib's money, ``MONEY_LIMIT``).  More
places are accepted, and rounded to 4, only when they are the noise of a
binary float: CLVTools merged same-day transactions by adding floats and
wrote ``20.759999999999998`` for 20.76; an amount within a billionth
(relatively) of its 4-place rounding is such noise.  Blank lines (empty, or
white space only) are not records: they are neither read nor rejected.  A
line holding the byte 0x1F cannot be read as a line of text: the read fails
with a ``SourceError`` naming the file and the line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from retainlib import Dataset
from retainlib.calendar import Calendar, check_tz
from retainlib.errors import OptionError, SourceError
from retainlib.load_report import FileLoad, LoadReport
from retainlib.plugins import ReadResult, Source, hookimpl, progress
from retainlib.tables import MONEY, MONEY_DIGITS, MONEY_LIMIT, TIMESTAMP

__all__ = ["NAME", "OPTIONS", "Layout", "detect", "read", "retainlib_sources", "sniff"]

#: The source's name.
NAME = "cdnow"
#: The reader's options, name -> description.
OPTIONS = {
    "tz": "IANA time zone whose midnight the dates mean (default 'UTC')",
    "currency": "ISO 4217 code of the amounts (default 'USD')",
}
#: Score of a file whose lines (nearly) all look like a transaction log.
CONFIDENT = 80

_HEAD_BYTES = 64 * 1024
_SNIFF_LINES = 50

# Output columns double as the roles of the input fields.
_CUSTOMER, _SAMPLE, _DATE, _QUANTITY, _AMOUNT = "customer_id", "sample_id", "ordered_at", "quantity", "amount"
_MASTER_FIELDS = (_CUSTOMER, _DATE, _QUANTITY, _AMOUNT)
_SAMPLE_FIELDS = (_CUSTOMER, _SAMPLE, _DATE, _QUANTITY, _AMOUNT)
_REQUIRED = frozenset({_CUSTOMER, _DATE, _AMOUNT})
#: Header names (lower-case, letters and digits only) -> role.
_ALIASES = {
    "customerid": _CUSTOMER,
    "masterid": _CUSTOMER,
    "cust": _CUSTOMER,
    "id": _CUSTOMER,
    "sampleid": _SAMPLE,
    "date": _DATE,
    "cds": _QUANTITY,
    "numberofcds": _QUANTITY,
    "sales": _AMOUNT,
    "price": _AMOUNT,
    "dollarvalue": _AMOUNT,
    "dollars": _AMOUNT,
}

# One set of patterns for sniffing (Python re) and reading (polars); [0-9], not \d, which is Unicode-wide.  The
# shapes bare (placed in a line's pattern), then anchored (a whole field).
_DIGITS = "[0-9]+"
_SIGNED = "[+-]?[0-9]+"
_DECIMAL = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
_COMPACT = "[0-9]{8}"
_ISO = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
_WHOLE, _INTEGER, _NUMBER = f"^{_DIGITS}$", f"^{_SIGNED}$", f"^{_DECIMAL}$"
_COMPACT_DATE, _ISO_DATE = f"^{_COMPACT}$", f"^{_ISO}$"
_TOO_PRECISE = r"\.[0-9]{5,}$"
_FLOAT_NOISE = 1e-9  # relative
_FIELD_PATTERNS = {
    _CUSTOMER: re.compile(_WHOLE),
    _SAMPLE: re.compile(_WHOLE),
    _DATE: re.compile(f"{_COMPACT_DATE}|{_ISO_DATE}"),
    _QUANTITY: re.compile(_INTEGER),
    _AMOUNT: re.compile(_NUMBER),
}

# Working columns.
_TEXT, _LINE, _FIELDS, _COUNT = "_text", "_line", "_fields", "_count"
_DAY, _NTH, _PROBLEMS = "_day", "_nth", "_problems"
_SUSPECT, _BLANK, _REASON, _COLUMN = "_suspect", "_blank", "_reason", "_column"
_VALUE_CUSTOMER, _DATE_VALUE, _AMOUNT_VALUE = "_customer_value", "_date_value", "_amount_value"
_QUANTITY_VALUE, _SAMPLE_VALUE = "_quantity_value", "_sample_value"


@dataclass(frozen=True, slots=True)
class Layout:
    """How the lines of one file are laid out.

    Attributes:
        separator: ``","`` for CSV, ``None`` for runs of whitespace.
        header_line: the header's line number (1-based), 0 when there is none.
        fields: the role of each field, in order (``customer_id``, ``sample_id``,
            ``ordered_at``, ``quantity``, ``amount``).
    """

    separator: str | None
    header_line: int
    fields: tuple[str, ...]

    def split(self, line: str) -> list[str]:
        """The fields of one (stripped) line."""
        if self.separator is None:
            return line.split()
        return [f.strip().strip('"') for f in line.split(self.separator)]

    def matches(self, line: str) -> bool:
        """Whether a line is a well-formed record of this layout."""
        values = self.split(line)
        return len(values) == len(self.fields) and all(
            _FIELD_PATTERNS[role].match(v) is not None for role, v in zip(self.fields, values, strict=True)
        )


def _head_lines(head: bytes) -> list[tuple[int, str]]:
    """Non-blank lines of a file's first bytes, stripped, with their 1-based line numbers."""
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = text.split("\n")
    if len(head) >= _HEAD_BYTES and not text.endswith("\n"):
        lines = lines[:-1]  # cut short by the head's size
    return [(number, line.strip()) for number, line in enumerate(lines, 1) if line.strip()]


def _roles(names: Sequence[str]) -> tuple[str, ...] | None:
    """The roles named by a header, or ``None`` when it is not a transaction-log header."""
    roles = [_ALIASES.get(re.sub(r"[^a-z0-9]", "", n.lower())) for n in names]
    known = [r for r in roles if r is not None]
    if len(known) != len(roles) or len(set(known)) != len(known) or not set(known) >= _REQUIRED:
        return None
    return tuple(known)


def sniff(head: bytes) -> tuple[Layout | None, int]:
    """The layout of a file from its first bytes, and how surely it is a transaction log (0..100).

    A first line without any digit is a header and must name the fields; otherwise
    the file is whitespace-separated and its usual number of fields (4 or 5) decides
    between the master and the sample layout.  The score is :data:`CONFIDENT` when at
    least 90% of the first 50 records are well formed, 40 when half of them are, 50
    for a recognised header without records, else 0.
    """
    lines = _head_lines(head)
    if not lines:
        return None, 0
    number, first = lines[0]
    separator = "," if "," in first else None
    if not any(ch.isdigit() for ch in first):
        roles = _roles(Layout(separator, 0, ()).split(first))
        if roles is None:
            return None, 0
        layout = Layout(separator, number, roles)
        records = [line for _, line in lines[1 : _SNIFF_LINES + 1]]
        if not records:
            return layout, 50
    else:
        if separator is not None:
            return None, 0  # CSV logs always have a header
        records = [line for _, line in lines[:_SNIFF_LINES]]
        counts = Counter(len(line.split()) for line in records)
        if counts[4] == 0 and counts[5] == 0:
            return None, 0
        layout = Layout(None, 0, _MASTER_FIELDS if counts[4] >= counts[5] else _SAMPLE_FIELDS)
    share = sum(layout.matches(line) for line in records) / len(records)
    return layout, CONFIDENT if share >= 0.9 else 40 if share >= 0.5 else 0


def detect(path: Path, head: bytes) -> int:
    """Score a file for the ``cdnow`` source: :data:`CONFIDENT` for a clean transaction log."""
    del path  # recognised by content, whatever its name
    return sniff(head)[1]


# --- reading --------------------------------------------------------------------------------


def _check_currency(currency: object) -> str:
    code = currency.strip().upper() if isinstance(currency, str) else ""
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise OptionError(
            f"currency is an ISO 4217 code such as 'USD', got {currency!r}", option="currency", value=currency
        )
    return code


def _problem(condition: pl.Expr, column: str, reason: str) -> pl.Expr:
    return pl.when(condition).then(pl.lit(f"{column}: {reason}"))


def _ordered_at(tz: str) -> pl.Expr:
    """The first instant of the local day ``_DAY``, as retainlib's periods define it (a skipped midnight starts at
    the jump)."""
    return Calendar(period="day", tz=tz).instant(pl.col(_DAY)).cast(TIMESTAMP)


def _checks(layout: Layout, tz: str) -> tuple[list[pl.Expr], list[pl.Expr], list[pl.Expr]]:
    """The full checks, over the raw string fields: parsed values, then the values read from those, and the
    problems of each field (every one that applies, null otherwise)."""
    present = set(layout.fields)
    raw_day = pl.col(_DATE)
    day = (
        pl.when(raw_day.str.contains(_COMPACT_DATE))
        .then(raw_day.str.to_date("%Y%m%d", strict=False))
        .when(raw_day.str.contains(_ISO_DATE))
        .then(raw_day.str.to_date("%Y-%m-%d", strict=False))
    )
    raw_amount = pl.col(_AMOUNT)
    rounded = raw_amount.cast(MONEY, strict=False)  # rounds to 4 places
    # Binary-float noise (CLVTools' merged 20.759999999999998) is rounded away; real precision is not.
    as_float = raw_amount.cast(pl.Float64, strict=False)
    noise = (as_float - rounded.cast(pl.Float64)).abs() <= _FLOAT_NOISE * pl.max_horizontal(as_float.abs(), 1.0)
    too_precise = raw_amount.str.contains(_TOO_PRECISE) & ~noise
    amount = pl.when(raw_amount.str.contains(_NUMBER) & ~too_precise).then(rounded)
    ordered_at = _ordered_at(tz)

    parsed = [pl.col(_CUSTOMER).str.replace(r"^0+([0-9])", "${1}").alias(_VALUE_CUSTOMER), day.alias(_DAY)]
    values = [ordered_at.alias(_DATE_VALUE), amount.alias(_AMOUNT_VALUE)]
    problems = [
        _problem(~pl.col(_CUSTOMER).str.contains(_WHOLE), _CUSTOMER, "not a whole number"),
        _problem(pl.col(_DAY).is_null(), _DATE, "not a calendar date (YYYYMMDD or YYYY-MM-DD)"),
        _problem(pl.col(_DAY).is_not_null() & ordered_at.is_null(), _DATE, f"no such day in {tz}"),
        pl.when(~raw_amount.str.contains(_NUMBER))
        .then(pl.lit(f"{_AMOUNT}: not a number"))
        .when(too_precise)
        .then(pl.lit(f"{_AMOUNT}: more than 4 decimal places"))
        .when(amount.is_null() | (amount.abs() >= _money_limit()))
        .then(pl.lit(f"{_AMOUNT}: out of range (at most {MONEY_DIGITS} integer digits)")),
    ]
    if _QUANTITY in present:
        raw_quantity = pl.col(_QUANTITY)
        quantity = pl.when(raw_quantity.str.contains(_INTEGER)).then(raw_quantity.cast(pl.Int64, strict=False))
        problems.append(_problem(quantity.is_null(), _QUANTITY, "not a whole number"))
        values.append(quantity.alias(_QUANTITY_VALUE))
    if _SAMPLE in present:
        problems.append(_problem(~pl.col(_SAMPLE).str.contains(_WHOLE), _SAMPLE, "not a whole number"))
        values.append(pl.col(_SAMPLE).str.replace(r"^0+([0-9])", "${1}").alias(_SAMPLE_VALUE))
    return parsed, values, problems


def _money_limit() -> pl.Expr:
    """``MONEY_LIMIT`` as a money literal, built from its text (a ``Decimal`` literal makes polars import numpy)."""
    return pl.lit(str(MONEY_LIMIT)).cast(MONEY)


def _value_columns(layout: Layout) -> list[str]:
    """The columns holding a record's values, whichever way they were read."""
    present = set(layout.fields)
    return [
        _VALUE_CUSTOMER,
        _DAY,
        _DATE_VALUE,
        _AMOUNT_VALUE,
        *([_QUANTITY_VALUE] if _QUANTITY in present else []),
        *([_SAMPLE_VALUE] if _SAMPLE in present else []),
    ]


def _output(layout: Layout, currency: str) -> list[pl.Expr]:
    """The orders table's columns, from the value columns and ``_NTH``."""
    present = set(layout.fields)
    return [
        pl.concat_str(
            pl.col(_VALUE_CUSTOMER),
            pl.lit("-"),
            pl.col(_DAY).dt.strftime("%Y%m%d"),
            pl.lit("-"),
            pl.col(_NTH).cast(pl.String),
        ).alias("order_id"),
        pl.col(_VALUE_CUSTOMER).alias(_CUSTOMER),
        pl.col(_DATE_VALUE).alias(_DATE),
        pl.col(_AMOUNT_VALUE).alias(_AMOUNT),
        pl.lit(currency, dtype=pl.String).alias("currency"),
        pl.col(_QUANTITY_VALUE).alias(_QUANTITY) if _QUANTITY in present else pl.lit(None, pl.Int64).alias(_QUANTITY),
        *([pl.col(_SAMPLE_VALUE).alias(_SAMPLE)] if _SAMPLE in present else []),
    ]


def _lines(path: Path, layout: Layout) -> pl.LazyFrame:
    """The file's lines after the header, raw, with their line numbers (lazy)."""
    lines = pl.scan_csv(
        path,
        has_header=False,
        separator="\x1f",  # a byte text files do not hold: one column per line
        quote_char=None,
        infer_schema=False,
        new_columns=[_TEXT],
        encoding="utf8-lossy",  # a stray byte makes a rejected line, not a failed file
    )
    numbered = lines.with_row_index(_LINE, offset=1)
    return numbered.filter(pl.col(_LINE) > layout.header_line) if layout.header_line else numbered


#: An amount retainlib's money holds as written: at most ``MONEY_DIGITS`` digits before the point (below
#: ``MONEY_LIMIT``) and ``MONEY.scale`` after it.
_PLAIN_AMOUNT = rf"[+-]?([0-9]{{1,{MONEY_DIGITS}}}(\.[0-9]{{0,{MONEY.scale}}})?|\.[0-9]{{1,{MONEY.scale}}})"
#: The shape of each field for the quick read of a line (bare): a subset of the field's full check.
_PLAIN_SHAPES = {
    _CUSTOMER: _DIGITS,
    _SAMPLE: _DIGITS,
    _DATE: f"{_COMPACT}|{_ISO}",
    _QUANTITY: _SIGNED,
    _AMOUNT: _PLAIN_AMOUNT,
}
#: A field between separators, with the spaces and double quotes a CSV layout allows around it.
_QUOTED = ' *"?{}"? *'


def _plain_line(layout: Layout) -> str:
    """The pattern that splits a line of ``layout`` into its fields, one group per field: runs of bytes other
    than spaces separated by spaces (or fields separated by a comma, with spaces and double quotes around each).

    It splits, it does not check: a line is plain only if it also has :func:`_plain_shape` (a split field
    holds no space, so the two patterns see the same fields).  One simple pattern splits faster than one
    that also checks the fields' shapes, and checking them on the whole line, without groups, is quicker
    than one check per field.
    """
    if layout.separator is None:
        return "^ *" + " +".join("([^ ]+)" for _ in layout.fields) + " *$"
    return "^" + re.escape(layout.separator).join(_QUOTED.format('([^ ,"]+)') for _ in layout.fields) + "$"


def _plain_shape(layout: Layout) -> str:
    """The pattern of a plain line of ``layout``: its fields split as :func:`_plain_line` splits them, each with
    its shape (:data:`_PLAIN_SHAPES`), nothing else; any other line is read with the full checks."""
    shapes = [f"(?:{_PLAIN_SHAPES[role]})" for role in layout.fields]
    if layout.separator is None:
        return "^ *" + " +".join(shapes) + " *$"
    return "^" + re.escape(layout.separator).join(_QUOTED.format(s) for s in shapes) + "$"


def _quick(lines: pl.LazyFrame, layout: Layout, tz: str) -> pl.LazyFrame:
    """Every line read the quick way: values, and ``_SUSPECT`` where the full checks must decide.

    A plain line (:func:`_plain_shape`: the amount's shape has at most 4 places and fits retainlib's money)
    whose date is a calendar day of ``tz`` passes every full check, with the same values; any other line
    (blank, malformed, with tabs, float noise...) is suspect and keeps its text for the full checks.
    """
    roles = list(layout.fields)
    fields = pl.col(_TEXT).str.extract_groups(_plain_line(layout)).struct.rename_fields(roles)
    compact = pl.col(_DATE).str.to_date("%Y%m%d", strict=False)
    iso = pl.when(compact.is_null()).then(pl.col(_DATE)).str.to_date("%Y-%m-%d", strict=False)
    value = pl.col(_AMOUNT).cast(MONEY, strict=False)
    customer = pl.col(_CUSTOMER).str.strip_chars_start("0")  # digits only here: "000" is "0"
    values = [
        pl.when(customer == "").then(pl.lit("0")).otherwise(customer).alias(_VALUE_CUSTOMER),
        pl.coalesce(compact, iso).alias(_DAY),
        value.alias(_AMOUNT_VALUE),
    ]
    checks = [
        ~pl.col(_TEXT).str.contains(_plain_shape(layout)).fill_null(False),
        pl.col(_DAY).is_null(),
    ]
    if _QUANTITY in roles:
        values.append(pl.col(_QUANTITY).cast(pl.Int64, strict=False).alias(_QUANTITY_VALUE))
        checks.append(pl.col(_QUANTITY_VALUE).is_null())
    if _SAMPLE in roles:
        sample = pl.col(_SAMPLE).str.strip_chars_start("0")
        values.append(pl.when(sample == "").then(pl.lit("0")).otherwise(sample).alias(_SAMPLE_VALUE))
    suspect = pl.any_horizontal(*checks, pl.col(_DATE_VALUE).is_null())
    return (
        lines.with_columns(fields.alias(_FIELDS))
        .with_columns(pl.col(_FIELDS).struct.field(role) for role in roles)
        .with_columns(values)
        .with_columns(_ordered_at(tz).alias(_DATE_VALUE))
        .select(
            pl.col(_LINE),
            *_value_columns(layout),
            suspect.alias(_SUSPECT),
            pl.when(suspect).then(pl.col(_TEXT)).alias(_TEXT),
        )
    )


def _full(suspects: pl.DataFrame, layout: Layout, tz: str) -> pl.DataFrame:
    """The suspect lines read with the full checks: ``_BLANK`` for lines that are not records, the values,
    ``_COLUMN`` and ``_REASON`` (null for a line that passes every check)."""
    text = pl.col(_TEXT).str.replace_all(r"^[\s\ufeff]+|\s+$", "")
    if layout.separator is None:
        fields = text.str.replace_all(r"\s+", " ").str.split(" ")
    else:
        fields = text.str.split(layout.separator).list.eval(pl.element().str.strip_chars().str.strip_chars('"'))
    parsed, values, field_problems = _checks(layout, tz)
    expected = len(layout.fields)
    wrong_count = pl.concat_str(
        pl.lit("line: "),
        pl.col(_COUNT).cast(pl.String),
        pl.lit(f" fields, expected {expected} ({' '.join(layout.fields)})"),
    )
    problems = (
        pl.when(pl.col(_COUNT) != expected)
        .then(pl.concat_list(wrong_count))
        .otherwise(pl.concat_list(field_problems).list.drop_nulls())
    )
    return (
        suspects.lazy()
        .with_columns(text.alias(_TEXT))
        .with_columns((pl.col(_TEXT).is_null() | (pl.col(_TEXT) == "")).alias(_BLANK), fields.alias(_FIELDS))
        .with_columns(pl.col(_FIELDS).list.len().alias(_COUNT))
        .with_columns(pl.col(_FIELDS).list.get(i, null_on_oob=True).alias(role) for i, role in enumerate(layout.fields))
        .with_columns(parsed)
        .with_columns(values)
        .with_columns(problems.alias(_PROBLEMS))
        .select(
            pl.col(_BLANK),
            *_value_columns(layout),
            pl.col(_PROBLEMS).list.first().str.splitn(": ", 2).struct.field("field_0").alias(_COLUMN),
            pl.when(pl.col(_PROBLEMS).list.len() > 0).then(pl.col(_PROBLEMS).list.join("; ")).alias(_REASON),
        )
        .collect()
    )


def _layout_of(path: Path) -> Layout:
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError as exc:
        raise SourceError(f"cannot open: {exc.strerror or exc}", file=path, source=NAME) from None
    if not head.strip():
        raise SourceError("the file is empty", file=path, source=NAME)
    layout, _ = sniff(head)
    if layout is None:
        raise SourceError(
            "not a CDNOW/BTYD transaction log: expected whitespace-separated lines "
            "'customer YYYYMMDD cds dollars' (or 'customer sample YYYYMMDD cds dollars') "
            "or a CSV header such as 'masterid,sampleid,date,cds,sales'",
            file=path,
            source=NAME,
        )
    return layout


def _separator_line(path: Path) -> str:
    """`` (line N holds the control character 0x1F)`` for the first such line, else ``""`` (error path only)."""
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            if b"\x1f" in line:
                return f" (line {number} holds the control character 0x1F)"
    return ""


def _read_file(path: Path, *, tz: str, currency: str) -> tuple[pl.DataFrame, pl.DataFrame, FileLoad]:
    """One file's orders, customers (with their first day) and load: one pass reads every line the quick way
    (:func:`_quick`), then the suspect lines alone go through the full checks (:func:`_full`)."""
    layout = _layout_of(path)
    try:
        rows = _quick(_lines(path, layout), layout, tz).collect()
    except pl.exceptions.PolarsError as exc:
        # The only way a one-column read fails: a line holding the separator byte 0x1F.
        raise SourceError(
            f"cannot read as lines of text{_separator_line(path)}: {' '.join(str(exc).split())[:200]}",
            file=path,
            source=NAME,
        ) from None
    suspects = rows.get_column(_SUSPECT).arg_true()
    reason = pl.repeat(None, rows.height, dtype=pl.String, eager=True).alias(_REASON)
    column = pl.repeat(None, rows.height, dtype=pl.String, eager=True).alias(_COLUMN)
    if suspects.len():
        quick = rows[suspects]
        full = _full(quick, layout, tz)
        # The full checks' values replace the quick ones where they differ and matter: the customer and day
        # of every line (they number the lines), the other values of the lines loaded.  In place, one
        # column at a time (each made one chunk first): the table is not copied.
        loaded = full.get_column(_REASON).is_null() & ~full.get_column(_BLANK)
        columns = rows.drop(_SUSPECT, _TEXT).get_columns()
        del rows
        for i, series in enumerate(columns):
            if series.name not in full.columns:
                continue
            value = full.get_column(series.name)
            changed = ~value.eq_missing(quick.get_column(series.name))
            if series.name not in (_VALUE_CUSTOMER, _DAY):
                changed &= loaded
            if changed.any():
                columns[i] = series.rechunk()
                columns[i].scatter(suspects.filter(changed), value.filter(changed))
            del series
        reason.scatter(suspects, full.get_column(_REASON))
        column.scatter(suspects, full.get_column(_COLUMN))
        rows = pl.DataFrame([*columns, reason, column])
        del columns
        if full.get_column(_BLANK).any():
            rows = rows.filter(~pl.repeat(False, rows.height, eager=True).scatter(suspects, full.get_column(_BLANK)))
    else:
        rows = rows.drop(_SUSPECT, _TEXT).with_columns(reason, column)
    rows = rows.with_columns(_nth(rows))
    # Each part selects its columns before filtering: nothing else is copied.  The three are worked out
    # side by side (polars runs them at once).
    bad = pl.col(_REASON).is_not_null()
    good = rows.lazy().filter(~bad)
    orders, rejects, customers = pl.collect_all(
        [
            good.select(_output(layout, currency)),
            rows.lazy()
            .filter(bad)
            .select(
                pl.lit(str(path)).alias("file"),
                pl.col(_LINE).cast(pl.Int64).alias("line"),
                pl.lit("orders").alias("table"),
                pl.col(_COLUMN).alias("column"),
                pl.col(_REASON).alias("reason"),
            ),
            _first_days(good.select(pl.col(_VALUE_CUSTOMER).alias(_CUSTOMER), pl.col(_DATE_VALUE).alias(_DATE))),
        ]
    )
    load = FileLoad(file=str(path), table="orders", rows_read=rows.height, rows_loaded=orders.height, rejected=rejects)
    progress(path, load.rows_read)
    return orders, customers, load


def _first_days(orders: pl.LazyFrame) -> pl.LazyFrame:
    """The customers of ``orders`` in the order they first appear, each created at its first order."""
    return orders.group_by(_CUSTOMER, maintain_order=True).agg(pl.col(_DATE).min().alias("created_at"))


def _nth(rows: pl.DataFrame) -> pl.Series:
    """The n-th line of its customer and day, counting every line (rejected ones too): fixing a bad line
    does not renumber the others.

    Most lines are their customer's only one that day (1): the numbering over each customer and day is
    computed only for the lines whose key's hash repeats (found by sorting the hashes).
    """
    hashes = rows.select(pl.struct(_VALUE_CUSTOMER, _DAY).hash()).to_series()
    ordered = hashes.sort()
    repeated_hashes = ordered.slice(1).filter(ordered.slice(1) == ordered.slice(0, max(len(ordered) - 1, 0)))
    nth = pl.repeat(1, rows.height, dtype=pl.Int64, eager=True).alias(_NTH)
    if repeated_hashes.len():
        repeated = hashes.is_in(repeated_hashes.implode()).arg_true()
        numbered = rows[repeated].select(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(_VALUE_CUSTOMER, _DAY))
        nth = nth.scatter(repeated, numbered.to_series())
    return nth


def read(paths: Sequence[Path], *, tz: str | None = "UTC", currency: str | None = "USD") -> ReadResult:
    """Read CDNOW / BTYD transaction logs into ``orders`` and ``customers``.

    Parameters
    ----------
    paths
        The files; each file's layout is recognised on its own.
    tz
        The IANA time zone whose midnight the dates mean (``None``: UTC).
    currency
        The ISO 4217 code of the amounts (``None``: USD).
    """
    if not paths:
        raise OptionError("the cdnow source needs at least one file", option="paths", value=list(paths))
    zone = check_tz("UTC" if tz is None else tz)
    code = _check_currency("USD" if currency is None else currency)
    parts = [_read_file(Path(p), tz=zone, currency=code) for p in paths]
    orders = pl.concat([frame for frame, _, _ in parts], how="diagonal_relaxed")
    customers = (
        parts[0][1]
        if len(parts) == 1
        else _first_days(pl.concat([c for _, c, _ in parts]).lazy().rename({"created_at": _DATE})).collect()
    )
    # Every row was checked once, above: the tables are canonical, and a file's order ids are unique by
    # construction.  Across files an id can repeat (one transaction read from two files): the full check
    # then raises, naming the rows.
    repeated = len(parts) > 1 and bool(orders.get_column("order_id").is_duplicated().any())
    dataset = Dataset(orders=orders, customers=customers, validate="full" if repeated else "schema", source=NAME)
    return ReadResult(dataset=dataset, report=LoadReport(source=NAME, files=tuple(load for _, _, load in parts)))


@hookimpl
def retainlib_sources() -> Iterable[Source]:
    """The ``cdnow`` source."""
    yield Source(
        name=NAME,
        description="CDNOW / BTYD transaction logs (customer, day, CDs, dollars): master, sample, cdnowElog, CLVTools",
        kinds=("txt", "csv"),
        reader=read,
        detector=detect,
        options=OPTIONS,
    )
