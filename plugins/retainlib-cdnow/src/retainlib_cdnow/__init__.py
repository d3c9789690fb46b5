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
from retainlib.plugins import ReadResult, Source, hookimpl, progress
from retainlib.report import FileLoad, LoadReport
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

# One set of patterns for sniffing (Python re) and reading (polars); [0-9], not \d, which is Unicode-wide.
_WHOLE = r"^[0-9]+$"
_INTEGER = r"^[+-]?[0-9]+$"
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
_TOO_PRECISE = r"\.[0-9]{5,}$"
_FLOAT_NOISE = 1e-9  # relative
_COMPACT_DATE = r"^[0-9]{8}$"
_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
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


def _parse(layout: Layout, tz: str, currency: str) -> tuple[list[pl.Expr], list[pl.Expr], list[pl.Expr]]:
    """Expressions over the raw string fields: parsed values, per-field problems, output columns."""
    present = set(layout.fields)
    customer = pl.col(_CUSTOMER).str.replace(r"^0+([0-9])", "${1}")
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

    # The first instant of the local day, as retainlib's periods define it (a skipped midnight starts at the jump).
    ordered_at = Calendar(period="day", tz=tz).instant(pl.col(_DAY)).cast(TIMESTAMP)

    parsed = [customer.alias(_CUSTOMER), day.alias(_DAY)]
    problems = [
        _problem(~pl.col(_CUSTOMER).str.contains(_WHOLE), _CUSTOMER, "not a whole number"),
        _problem(pl.col(_DAY).is_null(), _DATE, "not a calendar date (YYYYMMDD or YYYY-MM-DD)"),
        _problem(pl.col(_DAY).is_not_null() & ordered_at.is_null(), _DATE, f"no such day in {tz}"),
        pl.when(~raw_amount.str.contains(_NUMBER))
        .then(pl.lit(f"{_AMOUNT}: not a number"))
        .when(too_precise)
        .then(pl.lit(f"{_AMOUNT}: more than 4 decimal places"))
        .when(amount.is_null() | (amount.abs() >= pl.lit(MONEY_LIMIT, dtype=MONEY)))
        .then(pl.lit(f"{_AMOUNT}: out of range (at most {MONEY_DIGITS} integer digits)")),
    ]
    output = [
        pl.concat_str(
            pl.col(_CUSTOMER), pl.lit("-"), pl.col(_DAY).dt.strftime("%Y%m%d"), pl.lit("-"), pl.col(_NTH)
        ).alias("order_id"),
        pl.col(_CUSTOMER),
        ordered_at.alias(_DATE),
        amount.alias(_AMOUNT),
        pl.lit(currency, dtype=pl.String).alias("currency"),
    ]
    if _QUANTITY in present:
        raw_quantity = pl.col(_QUANTITY)
        quantity = pl.when(raw_quantity.str.contains(_INTEGER)).then(raw_quantity.cast(pl.Int64, strict=False))
        problems.append(_problem(quantity.is_null(), _QUANTITY, "not a whole number"))
        output.append(quantity.alias(_QUANTITY))
    else:
        output.append(pl.lit(None, dtype=pl.Int64).alias(_QUANTITY))
    if _SAMPLE in present:
        problems.append(_problem(~pl.col(_SAMPLE).str.contains(_WHOLE), _SAMPLE, "not a whole number"))
        output.append(pl.col(_SAMPLE).str.replace(r"^0+([0-9])", "${1}"))
    return parsed, problems, output


def _records(path: Path, layout: Layout) -> pl.LazyFrame:
    """The file's non-blank lines after the header: line number and raw string fields (lazy)."""
    lines = pl.scan_csv(
        path,
        has_header=False,
        separator="\x1f",  # a byte text files do not hold: one column per line
        quote_char=None,
        infer_schema=False,
        new_columns=[_TEXT],
        encoding="utf8-lossy",  # a stray byte makes a rejected line, not a failed file
    )
    text = pl.col(_TEXT).str.replace_all(r"^[\s\ufeff]+|\s+$", "")
    if layout.separator is None:
        fields = text.str.replace_all(r"\s+", " ").str.split(" ")
    else:
        fields = text.str.split(layout.separator).list.eval(pl.element().str.strip_chars().str.strip_chars('"'))
    return (
        lines.with_row_index(_LINE, offset=1)
        .with_columns(pl.col(_LINE).cast(pl.Int64), text.alias(_TEXT))
        .filter(pl.col(_LINE) > layout.header_line, pl.col(_TEXT).is_not_null(), pl.col(_TEXT) != "")
        .with_columns(fields.alias(_FIELDS))
        .with_columns(pl.col(_FIELDS).list.len().alias(_COUNT))
        .with_columns(pl.col(_FIELDS).list.get(i, null_on_oob=True).alias(role) for i, role in enumerate(layout.fields))
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


def _read_file(path: Path, *, tz: str, currency: str) -> tuple[pl.DataFrame, FileLoad]:
    layout = _layout_of(path)
    records = _records(path, layout)
    parsed, field_problems, output = _parse(layout, tz, currency)
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
    # n-th line of this customer and day, counting every line (rejected ones too): fixing a bad
    # line does not renumber the others.
    nth = (pl.int_range(pl.len()).over(_CUSTOMER, _DAY) + 1).cast(pl.String)
    checked = records.with_columns(parsed).with_columns(problems.alias(_PROBLEMS), nth.alias(_NTH))
    loaded = checked.filter(pl.col(_PROBLEMS).list.len() == 0).select(output)
    rejected = checked.filter(pl.col(_PROBLEMS).list.len() > 0).select(
        pl.lit(str(path)).alias("file"),
        pl.col(_LINE).alias("line"),
        pl.lit("orders").alias("table"),
        pl.col(_PROBLEMS).list.first().str.splitn(": ", 2).struct.field("field_0").alias("column"),
        pl.col(_PROBLEMS).list.join("; ").alias("reason"),
    )
    try:
        orders, rejects, count = pl.collect_all([loaded, rejected, checked.select(pl.len())])
    except pl.exceptions.PolarsError as exc:
        # The only way a one-column read fails: a line holding the separator byte 0x1F.
        raise SourceError(
            f"cannot read as lines of text{_separator_line(path)}: {' '.join(str(exc).split())[:200]}",
            file=path,
            source=NAME,
        ) from None
    load = FileLoad(
        file=str(path), table="orders", rows_read=int(count.item()), rows_loaded=orders.height, rejected=rejects
    )
    progress(path, load.rows_read)
    return orders, load


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
    orders = pl.concat([frame for frame, _ in parts], how="diagonal_relaxed")
    customers = orders.group_by(_CUSTOMER, maintain_order=True).agg(pl.col(_DATE).min().alias("created_at"))
    # Already canonical; the full check also catches one transaction read twice from two files.
    dataset = Dataset(orders=orders, customers=customers, validate="full", source=NAME)
    return ReadResult(dataset=dataset, report=LoadReport(source=NAME, files=tuple(load for _, load in parts)))


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
