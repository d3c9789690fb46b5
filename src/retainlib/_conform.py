"""Coerce any frame into a canonical table, finding every bad row on the way.

:func:`conform` turns a frame (whatever its column types: strings from a CSV,
pandas floats, aware or naive datetimes...) into the canonical schema of a
table, as lazy polars expressions.  Beside the coerced columns it computes, for
every row, the first problem found (``"amount: not a number"``) or null.

Two callers use the result differently:

* :class:`retainlib.Dataset` raises one :class:`~retainlib.errors.DataError`
  listing every problem with its first rows (:func:`raise_problems`);
* sources split rows into loaded and rejected ones (:func:`split`), so that
  rows read = rows loaded + rows rejected.

Column-level problems (a missing column, a type that can never be coerced,
naive timestamps without a time zone) raise :class:`SchemaError` at once.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import polars as pl

from retainlib.errors import DataError, Problem, SchemaError
from retainlib.tables import (
    CURRENCY_PATTERN,
    MONEY,
    MONEY_DIGITS,
    MONEY_LIMIT,
    MONEY_PLACES,
    TIMESTAMP,
    Column,
    Kind,
    TableSpec,
)

__all__ = [
    "NEGATIVE_AMOUNT",
    "ROW",
    "Conformed",
    "canonical_id",
    "check_renames",
    "conform",
    "money_limit",
    "negative_amount",
    "raise_problems",
    "repeated",
    "split",
    "value",
]

#: Name of the 1-based row (or line) number column carried through conforming.
ROW = "_retainlib_row"
PROBLEM = "_retainlib_problem"  # every problem of the row joined with "; ", or null
PROBLEMS = "_retainlib_problems"  # every problem of the row, as a list
BAD = "_retainlib_bad"  # whether the row has any problem
DUPLICATE = "_retainlib_duplicate"  # whether the row repeats an earlier row's key

_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"
#: An amount read exactly: a number (``_NUMBER``) with at most ``MONEY_PLACES`` decimals.
_EXACT_AMOUNT = rf"^[+-]?(\d+(\.\d{{0,{MONEY_PLACES}}})?|\.\d{{1,{MONEY_PLACES}}})$"
#: Currencies taken as they are without matching (any other code is matched against the pattern).
_COMMON_CURRENCIES = (
    *("USD", "EUR", "GBP", "JPY", "CNY", "CAD", "AUD", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF"),
    *("RON", "BGN", "INR", "BRL", "MXN", "NZD", "SGD", "HKD", "ZAR", "KRW", "TRY", "ILS", "AED", "SAR"),
    *("THB", "IDR", "MYR", "PHP", "TWD", "COP", "CLP", "PEN", "ARS", "VND", "NGN", "EGP", "KES", "UAH"),
)
_TOO_PRECISE = rf"\.\d{{{MONEY_PLACES + 1},}}$"
_AWARE_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M%z",
    "%Y-%m-%d %H:%M:%S%.f %z",
    "%Y-%m-%d %H:%M %z",
)
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_SATISFACTION = {"good": "good", "bad": "bad"}


@attrs.frozen(kw_only=True)
class Conformed:
    """A table being conformed: coerced columns plus a per-row problem.

    Attributes:
        spec: the canonical table.
        frame: input columns, ``ROW`` and ``PROBLEM`` (null when the row is fine).
        coerced: the canonical expressions then the extra columns, in output order.
        file: the file the rows came from, when known.
        extras: the input's non-canonical columns, kept after the canonical ones.
        flags: per canonical column, whether a row breaks one of that column's checks (a row
            rule counts for its later column: ``ended_at`` for "ended_at before started_at").
        checked: the columns :meth:`collect` keeps: row numbers, values, extras, checks, ``BAD``.
        checks: the names of the boolean check columns (``BAD`` is true where one is).
    """

    spec: TableSpec
    frame: pl.LazyFrame
    coerced: tuple[pl.Expr, ...]
    problems: tuple[pl.Expr, ...] = ()
    file: Path | None = None
    extras: tuple[str, ...] = ()
    flags: Mapping[str, pl.Expr] = attrs.field(factory=dict)
    checked: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()

    def collect(self) -> Conformed:
        """The same table with its frame coerced and checked in memory, in one pass.

        Only the columns that the output, the rules and the explanations read
        are kept (row numbers, values, extras, the input and helpers the
        explanations read, checks).
        """
        return attrs.evolve(self, frame=self.frame.select(self.checked).collect().lazy())

    def with_rules(self, rules: Mapping[str, pl.Expr], columns: Sequence[pl.Expr] = ()) -> Conformed:
        """The same table with more row rules, after adding ``columns`` to the frame.

        ``rules`` maps a column name to an expression giving the reason a row
        breaks the rule, or null (as :func:`negative_amount` does); the rules
        read the coerced values with :func:`value`.
        """
        labelled = [pl.when(r.is_not_null()).then(pl.lit(f"{name}: ") + r) for name, r in rules.items()]
        frame = self.frame.with_columns(columns) if columns else self.frame
        bad = pl.any_horizontal([pl.col(BAD), *(r.is_not_null() for r in rules.values())])
        return attrs.evolve(self, frame=frame.with_columns(bad.alias(BAD)), problems=(*self.problems, *labelled))

    def output(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """The canonical table from (a filtered) ``frame``."""
        return frame.select(self.coerced)

    def explain(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """``frame`` (best filtered to bad rows first) with ``PROBLEMS`` (list) and ``PROBLEM`` (joined text).

        The texts are built only here, for the rows that need them: good rows
        cost one boolean (``BAD``) each.
        """
        found = pl.concat_list(self.problems).list.drop_nulls() if self.problems else pl.lit([], pl.List(pl.String))
        return frame.with_columns(found.alias(PROBLEMS)).with_columns(
            pl.when(pl.col(PROBLEMS).list.len() > 0).then(pl.col(PROBLEMS).list.join("; ")).alias(PROBLEM)
        )


def repeated(keys: pl.Series) -> pl.Series:
    """Whether an earlier row holds the same (non-null) key, for each row, as a boolean Series.

    Text keys that follow one another in a strict order (:func:`_in_strict_order`,
    as numbered orders do down an export) are all distinct: no key repeats.
    Other keys are compared through their 64-bit hashes first (a third of the
    cost of comparing texts); the few rows whose hash repeats are then compared
    by their keys, so a collision of hashes never makes a false duplicate.
    """
    none = pl.Series(keys.name, [], dtype=pl.Boolean).extend_constant(False, keys.len())
    if _in_strict_order(keys):
        return none
    hashes = keys.hash()
    if hashes.n_unique() == hashes.len():  # the common case, decided by a count (a third of a first-seen test)
        return none
    flagged = ~hashes.is_first_distinct() & keys.is_not_null()
    if not flagged.any():
        return flagged.fill_null(False)
    among = hashes.is_in(hashes.filter(flagged).implode()).arg_true()
    suspects = keys.gather(among)
    exact = (~suspects.is_first_distinct() & suspects.is_not_null()).fill_null(False)
    return none.scatter(among, exact)


#: Keys in a strict order are first tested on their first rows: a file whose keys are not ordered pays little.
_ORDER_PROBE = 1024


def _in_strict_order(keys: pl.Series) -> bool:
    """Whether text keys (no null) strictly rise, or strictly fall, from row to row: then each key is distinct.

    Keys are ordered by their length in bytes, then by their bytes (``"o9"``
    before ``"o10"``, as numbered ids run), a total order in which two
    neighbours are equal only when they are the same text.  The first rows
    decide the direction and are tested first, so that keys in no order cost
    a few comparisons.
    """
    if keys.len() < 2 or keys.dtype != pl.String or keys.null_count():
        return False

    def follows(part: pl.Series, rising: bool) -> bool:
        """Whether every key of ``part`` comes after (``rising``) or before the key above it."""
        sizes = part.str.len_bytes()
        above, below = part.slice(0, part.len() - 1), part.slice(1)
        size_above, size_below = sizes.slice(0, part.len() - 1), sizes.slice(1)
        if rising:
            after = (size_below > size_above) | ((size_below == size_above) & (below > above))
        else:
            after = (size_below < size_above) | ((size_below == size_above) & (below < above))
        return bool(after.all())

    def key(text: str) -> tuple[int, bytes]:
        data = text.encode()
        return len(data), data

    def in_order(rising: bool) -> bool:
        """Whether every key follows the one above it, one piece of memory at a time (a file is read in pieces):
        neighbours within a piece compared by polars, the pieces' edges here (no copy of the keys)."""
        pieces = [p for p in keys.get_chunks() if p.len()]
        edges = [(key(a[-1]), key(b[0])) for a, b in itertools.pairwise(pieces)]
        edges_follow = all(below > above if rising else below < above for above, below in edges)
        return edges_follow and all(follows(p, rising) for p in pieces if p.len() > 1)

    probe = keys.slice(0, _ORDER_PROBE)
    for rising in (True, False):
        if follows(probe.rechunk(), rising):
            return keys.len() <= _ORDER_PROBE or in_order(rising)
    return False


def _type_name(dtype: pl.DataType) -> str:
    return str(dtype)


def _schema_error(
    spec: TableSpec, column: str, expected: str, actual: pl.DataType | None, file: Path | None, why: str
) -> SchemaError:
    return SchemaError(
        why,
        table=spec.name,
        column=column,
        expected=expected,
        actual=None if actual is None else _type_name(actual),
        file=file,
    )


def _missing(spec: TableSpec, names: list[str], file: Path | None) -> SchemaError:
    missing = [c for c in spec.required if c not in names]
    lines = []
    for m in missing:
        close = difflib.get_close_matches(m, names, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}? map it with mapping={{{close[0]!r}: {m!r}}})" if close else ""
        lines.append(f"{m}{hint}")
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return SchemaError(
        f"missing required column(s): {'; '.join(lines)}. Columns present: {shown or '(none)'}",
        table=spec.name,
        column=missing[0],
        expected="present",
        actual=None,
        file=file,
    )


def check_renames(
    columns: Sequence[str], mapping: Mapping[str, str], *, table: str, file: Path | None = None
) -> dict[str, str]:
    """``mapping`` (input column -> canonical column), checked against the input's ``columns``.

    A mapped column the input lacks, or a rename that leaves two columns with
    one name, is a :class:`SchemaError` naming the column.
    """
    absent = [k for k in mapping if k not in columns]
    after = [mapping.get(c, c) for c in columns]
    clash = sorted({c for c in after if after.count(c) > 1})
    if absent or clash:
        raise SchemaError(
            f"mapping names column(s) {absent} that the input lacks; columns present: {list(columns)}"
            if absent
            else f"after renaming, several columns are called {clash[0]!r}; map only one of them to it",
            table=table,
            column=(absent or clash)[0],
            expected="one column present",
            actual=None if absent else "several",
            file=file,
        )
    return dict(mapping)


def _blank_to_null(e: pl.Expr) -> pl.Expr:
    s = e.str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


#: The text of a whole number written as a decimal (``"17850.0"``, as pandas writes integer ids with gaps).
_WHOLE_DECIMAL = r"^\+?(-?\d+)\.0*$"
#: Largest float whose integral value polars can turn into an Int64 id.
_ID_FLOAT_LIMIT = 2.0**63


def canonical_id(text: pl.Expr) -> pl.Expr:
    """The canonical form of text ids: stripped, and ``"17850.0"`` written ``"17850"``.

    Every route to an id (CSV text, integers, whole floats, decimals) gives the
    same string for the same number, so ``17850``, ``17850.0`` and
    ``"17850.0"`` are one customer.  Other text is kept as it is (``"007"``,
    ``"cus_9"``, ``"1.5"``).
    """
    return _canonical_stripped_id(text.str.strip_chars())


def _canonical_stripped_id(stripped: pl.Expr) -> pl.Expr:
    """:func:`canonical_id` of text already stripped."""
    # Only text holding a point can be a whole decimal: the others skip the pattern (it costs 3x the test).
    dotted = stripped.str.contains(".", literal=True)
    return pl.when(dotted).then(stripped.str.replace(_WHOLE_DECIMAL, "${1}")).otherwise(stripped)


#: Last bytes of a text that may end with white space: ASCII controls and space, and any byte of a non-ASCII
#: character (Unicode white space is ASCII or several bytes, each at or above 0x80).
_EDGE_BYTES = [*range(0x21), *range(0x80, 0x100)]


#: Bounds of a text column's values (lowest, highest, compared byte by byte), from Parquet statistics.
Bounds = tuple[bytes, bytes]


def _odd_id(text: pl.Expr, bounds: Bounds | None = None) -> pl.Expr:
    """Whether a text id may differ from its canonical form (:func:`canonical_id`); false only where it cannot.

    :func:`canonical_id` changes a text only if it is empty, starts or ends
    with white space (then its first byte is below ``!`` or non-ASCII, or its
    last byte is a control, a space or part of a non-ASCII character), or is
    a whole decimal (``"17850.0"``: ending with ``.`` or ``0`` and holding a
    point).  Byte comparisons and one byte per row decide; the point is looked
    for only in ids that start with a sign or a digit and end with ``.`` or ``0``.  Null for a null id.

    ``bounds`` (the lowest and highest id, from the file's statistics) spare
    the tests of the first byte that no id between them can fail: none is
    empty or starts below ``!`` or from ``\\x7f`` when ``"!" <= lowest`` and
    ``highest < "\\x7f"`` (texts compare byte by byte, a prefix first); none
    starts with a sign or a digit (``+`` to ``9``) when ``":" <= lowest`` or
    ``highest < "+"``.
    """
    raw = text.cast(pl.Binary)
    last = raw.bin.get(-1, null_on_oob=True)
    plain_first = bounds is not None and bounds[0] >= b"!" and bounds[1] < b"\x7f"
    never_numeric = bounds is not None and (bounds[0] >= b":" or bounds[1] < b"+")
    edge = last.is_in(_EDGE_BYTES)
    if not plain_first:
        edge = (text < "!") | (text >= "\x7f") | edge
    if never_numeric:
        return edge
    # A whole decimal starts with a sign or a digit (a first byte from "+" to "9") and ends with "." or "0".
    numeric = (text >= "+") & (text < ":") & last.is_in([ord("."), ord("0")])
    return edge | pl.when(numeric).then(raw).bin.contains(b".").fill_null(False)


def _id(
    c: Column, dtype: pl.DataType, spec: TableSpec, file: Path | None, bounds: Bounds | None = None
) -> tuple[pl.Expr, pl.Expr | None] | Coerced:
    e = pl.col(c.name)
    bounds = bounds if dtype == pl.String else None  # bounds of the texts themselves
    if isinstance(dtype, pl.Categorical | pl.Enum):
        e, dtype = e.cast(pl.String), pl.String()
    if dtype == pl.String:
        # Most ids are already canonical and are taken as they are.  A cheap test on their first and
        # last bytes finds every one that may not be (:func:`_odd_id`); only those are stripped and
        # rewritten, in a helper column that is null elsewhere (and costs nothing when all ids are plain).
        # The problem reads the coerced value's column (checks run after the values), not the expression again.
        empty = pl.col(_value_name(c.name)) == ""
        odd, fixed = f"__k_{c.name}", f"__i_{c.name}"
        first = (_odd_id(e, bounds).alias(odd),)
        second = (canonical_id(pl.when(pl.col(odd)).then(e)).alias(fixed),)
        value = pl.coalesce(pl.col(fixed), e)
        return Coerced(value, pl.when(empty).then(pl.lit("empty id")), [], first, second, flag=empty)
    if dtype.is_integer():
        return e.cast(pl.String), None
    if isinstance(dtype, pl.Decimal):
        # Decimals print with their scale ("17850.00"): whole ones lose it, others are refused.
        text = e.cast(pl.String)
        whole = text.str.contains(_WHOLE_DECIMAL) | ~text.str.contains(".", literal=True)
        value = pl.when(whole).then(canonical_id(text))
        return value, pl.when(e.is_not_null() & ~whole).then(pl.lit("not a whole-number id"))
    if dtype.is_float():
        finite = e.is_finite()
        whole = finite & (e == e.floor())
        fits = e.abs() < _ID_FLOAT_LIMIT
        value = pl.when(whole & fits).then(e.cast(pl.Int64, strict=False).cast(pl.String))
        problem = (
            pl.when(e.is_null())
            .then(None)
            .when(~whole)
            .then(pl.lit("not a whole-number id"))
            .when(~fits)
            .then(pl.lit("id too large for a whole number"))
        )
        return value, problem
    if dtype == pl.Null:
        return e.cast(pl.String), None
    raise _schema_error(
        spec, c.name, "string or integer ids", dtype, file, f"ids must be strings or integers, not {dtype}"
    )


def _timestamp(
    c: Column, dtype: pl.DataType, spec: TableSpec, tz: str | None, file: Path | None
) -> tuple[pl.Expr, pl.Expr | None] | Coerced:
    e = pl.col(c.name)

    def localise(naive: pl.Expr) -> pl.Expr:
        assert tz is not None
        return naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")

    naive_help = "timestamps need a time zone: pass tz='Europe/Paris' (or any IANA name) for naive ones"
    if isinstance(dtype, pl.Datetime):
        if dtype == TIMESTAMP:  # already canonical: taken as it is
            return e, None
        if dtype.time_zone is not None:
            return e.dt.convert_time_zone("UTC").dt.cast_time_unit("us"), None
        if tz is None:
            raise _schema_error(
                spec, c.name, "time-zone-aware datetimes", dtype, file, f"naive datetimes; {naive_help}"
            )
        value = localise(e.dt.cast_time_unit("us"))
        return value, pl.when(e.is_not_null() & value.is_null()).then(pl.lit(f"not a valid local time in {tz}"))
    if dtype == pl.Date:
        if tz is None:
            raise _schema_error(
                spec, c.name, "time-zone-aware datetimes", dtype, file, f"dates without a time zone; {naive_help}"
            )
        return localise(e.cast(pl.Datetime("us"))), None
    if dtype == pl.Null:
        return e.cast(TIMESTAMP), None
    if dtype != pl.String:
        raise _schema_error(
            spec, c.name, "datetimes or ISO 8601 strings", dtype, file, f"cannot read timestamps from {dtype}"
        )
    # Parsed once into helper columns, so value and problem don't parse again.  Stage 0: the
    # common shape of exports (2024-03-01T10:00:00Z) in one strict parse; stage 1: every other
    # value (normalised, then tried against each format), the fast ones null and so costing nothing.
    f_name, s_name, a_name, n_name = f"__f_{c.name}", f"__s_{c.name}", f"__a_{c.name}", f"__n_{c.name}"
    o_name = f"__o_{c.name}"
    fast = pl.coalesce(pl.col(f_name), pl.col(o_name))
    normalised = (
        _blank_to_null(pl.when(fast.is_null()).then(e))
        .str.replace(r"^(\d{4}-\d\d-\d\d)T", "${1} ")
        .str.replace(r"(?i)\s*(z|utc)$", "+00:00")
    )
    s, aware, naive = pl.col(s_name), pl.col(a_name), pl.col(n_name)
    helpers = [
        normalised.alias(s_name),
        pl.coalesce(
            [
                fast,
                *(normalised.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in _AWARE_FORMATS),
            ]
        ).alias(a_name),
        pl.coalesce([normalised.str.to_datetime(f, strict=False, time_unit="us") for f in _NAIVE_FORMATS]).alias(
            n_name
        ),
    ]
    parsed = aware if tz is None else pl.coalesce(aware, localise(naive))
    # Years outside 1..9999 ("-2024-03-01 ...") parse, but no calendar tool (nor Python) can use them.
    in_range = parsed.dt.year().is_between(1, 9999)
    value = pl.when(in_range).then(parsed)
    problem = (
        pl.when(s.is_null())
        .then(None)
        .when(aware.is_null() & naive.is_null())
        .then(pl.lit("unparseable timestamp (expected ISO 8601, e.g. 2024-03-01T10:00:00Z)"))
        .when(aware.is_null() & pl.lit(tz is None))
        .then(pl.lit(f"naive timestamp; {naive_help}"))
        .when(parsed.is_null())
        .then(pl.lit(f"not a valid local time in {tz}"))
        .when(~in_range)
        .then(pl.lit("year out of range (1 to 9999)"))
    )
    # A row is bad when its text is not blank and gives no instant (the explanation says why).
    flag = s.is_not_null() & pl.col(_value_name(c.name)).is_null()
    offset = _fast_offset(pl.when(pl.col(f_name).is_null()).then(e)).alias(o_name)
    return Coerced(value, problem, helpers, (_fast_utc(e).alias(f_name),), flag=flag, second=(offset,))


#: The shape of most exported timestamps, parsed by :func:`_fast_utc` without normalising.
_FAST_SHAPE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


#: The shape of exports' timestamps with an offset (Shopify's ``2024-03-01 10:00:00 -0500``, ISO ``...+01:00``).
_OFFSET_SHAPE = r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d ?[+-]\d\d:?\d\d$"


def _fast_utc(text: pl.Expr) -> pl.Expr:
    """``2024-03-01T10:00:00Z`` as a UTC datetime, null for any other text (left to the next stages).

    Only text of exactly that shape is parsed here, to the instant the general
    parse gives it; an impossible date of that shape (``2024-02-30T...``) is
    null and the general parse explains it.
    """
    # Without a cache of the texts parsed: exports' times are nearly all distinct, and the cache costs as much
    # again as the parse.
    parsed = text.str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False, time_unit="us", time_zone="UTC", cache=False)
    return pl.when(text.str.contains(_FAST_SHAPE)).then(parsed)


def _fast_offset(text: pl.Expr) -> pl.Expr:
    """A time with an offset as exports write it, as a UTC datetime; null for any other text.

    ``2024-03-01 10:00:00 -0500`` (Shopify), ``2024-03-01T10:00:00+01:00``
    (ISO 8601) and their variants (:data:`_OFFSET_SHAPE`) give the instant the
    general parse gives them.  ``text`` comes masked: null where an earlier
    stage already read the value, so that files of another shape pay little.
    """
    parsed = pl.coalesce(
        text.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC", cache=False)
        for f in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z")
    )
    return pl.when(text.str.contains(_OFFSET_SHAPE)).then(parsed)


def _money(
    c: Column, dtype: pl.DataType, spec: TableSpec, file: Path | None
) -> tuple[pl.Expr, pl.Expr | None] | Coerced:
    e = pl.col(c.name)
    if dtype == MONEY:  # already canonical: no cast, and none can fail
        return e, None
    if isinstance(dtype, pl.Decimal):
        value = e.cast(MONEY, strict=False)
        if dtype.scale is not None and dtype.scale > MONEY_PLACES:
            lost = value.cast(dtype, strict=False) != e
            return value, pl.when(lost).then(pl.lit(f"more than {MONEY_PLACES} decimal places"))
        return value, pl.when(e.is_not_null() & value.is_null()).then(pl.lit("amount too large"))
    if dtype.is_integer() or dtype == pl.Null:
        return e.cast(MONEY), None
    if dtype.is_float():
        # Floats are rounded half-even to 4 places; pass strings or Decimals for exact input.
        finite = e.is_finite()
        value = pl.when(finite).then(e.round(MONEY_PLACES).cast(pl.String).cast(MONEY, strict=False))
        return value, pl.when(e.is_not_null() & ~finite).then(pl.lit("not a finite number"))
    if dtype != pl.String:
        raise _schema_error(spec, c.name, "decimal numbers", dtype, file, f"cannot read money from {dtype}")
    s = _blank_to_null(e)
    coerced = pl.col(_value_name(c.name))
    # Per row, one pattern says whether the text is an amount polars reads exactly; the
    # explanation (which pattern fails) is worked out only for the rows found bad.  The text
    # as written is matched first: only the rest (padded, blank or bad) is stripped and matched again.
    exact_name, rest_name = f"__x_{c.name}", f"__t_{c.name}"
    exact, rest = pl.col(exact_name), pl.col(rest_name)
    first = (e.str.contains(_EXACT_AMOUNT).alias(exact_name),)
    second = (pl.when(~exact).then(e).str.strip_chars().alias(rest_name),)
    value = pl.when(exact).then(e).otherwise(rest).cast(MONEY, strict=False)
    # Exact as written: bad only when too large for the money type; else the stripped text decides.
    flag = (
        pl.when(exact)
        .then(coerced.is_null())
        .otherwise((rest != "") & (~rest.str.contains(_EXACT_AMOUNT) | coerced.is_null()))
    )
    problem = (
        pl.when(s.is_null())
        .then(None)
        .when(~s.str.contains(_NUMBER))
        .then(pl.lit("not a number"))
        .when(s.str.contains(_TOO_PRECISE))
        .then(pl.lit(f"more than {MONEY_PLACES} decimal places"))
        .when(coerced.is_null())
        .then(pl.lit("amount too large"))
    )
    return Coerced(value, problem, [], first, second, flag=flag)


def _currency(
    c: Column, dtype: pl.DataType, spec: TableSpec, file: Path | None
) -> tuple[pl.Expr, pl.Expr | None] | Coerced:
    e = pl.col(c.name)
    if isinstance(dtype, pl.Categorical | pl.Enum | pl.Null):
        e = e.cast(pl.String)
    elif dtype != pl.String:
        raise _schema_error(spec, c.name, "ISO 4217 codes", dtype, file, f"cannot read currency codes from {dtype}")
    # The common codes, written as they should be, are taken as they are; the other values
    # (lower case, spaces, rarer codes) are cleaned and matched, at little cost as they are few.
    # Both in helper columns, computed once: whether the code is a common one, and the others cleaned.
    common_name, rare_name = f"__c_{c.name}", f"__u_{c.name}"
    common, rare = pl.col(common_name), pl.col(rare_name)
    first = (e.is_in(list(_COMMON_CURRENCIES)).alias(common_name),)
    second = (pl.when(~common).then(e).str.strip_chars().str.to_uppercase().alias(rare_name),)
    value = pl.when(common).then(e).otherwise(pl.when(rare.str.contains(CURRENCY_PATTERN.pattern)).then(rare))
    # Not blank, yet no code: the problem reads the coerced column rather than matching again
    # (and only the uncommon values are stripped to tell a blank).
    given = common | (rare != "")
    bad = (pl.col(_value_name(c.name)).is_null() & given).fill_null(False)
    return Coerced(value, pl.when(bad).then(pl.lit("not an ISO 4217 currency code")), [], first, second, flag=bad)


def _score(c: Column, dtype: pl.DataType, spec: TableSpec, file: Path | None) -> tuple[pl.Expr, pl.Expr | None]:
    e = pl.col(c.name)
    if dtype.is_integer() or dtype == pl.Null:
        number = e.cast(pl.Float64)
    elif dtype.is_float():
        number = e
    elif dtype == pl.String:
        s = _blank_to_null(e)
        number = pl.when(s.str.contains(_NUMBER)).then(s.cast(pl.Float64, strict=False))
        bad_text = s.is_not_null() & number.is_null()
    else:
        raise _schema_error(spec, c.name, "integers 0..10", dtype, file, f"cannot read scores from {dtype}")
    whole = number == number.floor()
    in_range = (number >= 0) & (number <= 10)
    value = pl.when(whole & in_range).then(number.cast(pl.Int8))
    problem = (
        pl.when(number.is_null())
        .then(pl.when(bad_text).then(pl.lit("not a number")) if dtype == pl.String else None)
        .when(~whole)
        .then(pl.lit("not an integer score"))
        .when(~in_range)
        .then(pl.lit("score outside 0..10"))
    )
    return value, problem


def _satisfaction(c: Column, dtype: pl.DataType, spec: TableSpec, file: Path | None) -> tuple[pl.Expr, pl.Expr | None]:
    e = pl.col(c.name)
    if isinstance(dtype, pl.Categorical | pl.Enum | pl.Null):
        e = e.cast(pl.String)
    elif dtype != pl.String:
        raise _schema_error(spec, c.name, "good / bad / empty", dtype, file, f"cannot read satisfaction from {dtype}")
    s = _blank_to_null(e).str.to_lowercase()
    known = s.is_in(list(_SATISFACTION))
    value = pl.when(known).then(s).cast(c.dtype)
    return value, pl.when(s.is_not_null() & ~known).then(pl.lit("satisfaction is good, bad or empty"))


def _text(c: Column, dtype: pl.DataType, spec: TableSpec, file: Path | None) -> tuple[pl.Expr, pl.Expr | None]:
    e = pl.col(c.name)
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum | pl.Null):
        value = e.cast(pl.String)
        if c.kind is Kind.EMAIL:
            value = _blank_to_null(value).str.to_lowercase()
        return value, None
    raise _schema_error(spec, c.name, "text", dtype, file, f"cannot read text from {dtype}")


class Coerced(NamedTuple):
    """How to coerce one column: helper columns (stages 0, 0b and 1), the value (stage 2), its problem (stage 3)."""

    value: pl.Expr
    problem: pl.Expr | None
    helpers: list[pl.Expr]
    first: tuple[pl.Expr, ...] = ()
    second: tuple[pl.Expr, ...] = ()
    #: Whether the row breaks the column's checks, as a cheap boolean (default: the problem is not null).
    #: It must be true exactly where ``problem`` is not null.
    flag: pl.Expr | None = None


def _coerce(
    c: Column, dtype: pl.DataType, spec: TableSpec, tz: str | None, file: Path | None, bounds: Bounds | None = None
) -> Coerced:
    if c.kind is Kind.TIMESTAMP:
        result = _timestamp(c, dtype, spec, tz, file)
    else:
        result = _coerce_simple(c, dtype, spec, file, bounds)
    return result if isinstance(result, Coerced) else Coerced(*result, [])


def _coerce_simple(
    c: Column, dtype: pl.DataType, spec: TableSpec, file: Path | None, bounds: Bounds | None = None
) -> tuple[pl.Expr, pl.Expr | None] | Coerced:
    if c.kind is Kind.ID:
        return _id(c, dtype, spec, file, bounds)
    if c.kind is Kind.MONEY:
        return _money(c, dtype, spec, file)
    if c.kind is Kind.CURRENCY:
        return _currency(c, dtype, spec, file)
    if c.kind is Kind.SCORE:
        return _score(c, dtype, spec, file)
    if c.kind is Kind.SATISFACTION:
        return _satisfaction(c, dtype, spec, file)
    return _text(c, dtype, spec, file)


def conform(
    frame: pl.LazyFrame,
    spec: TableSpec,
    *,
    tz: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    file: Path | None = None,
    check_duplicates: bool = True,
    trust_canonical: bool = False,
    number_rows: bool = True,
    bounds: Mapping[str, Bounds] | None = None,
) -> Conformed:
    """Plan the coercion of ``frame`` into the canonical ``spec`` table.

    With ``trust_canonical``, columns that already have their canonical type are
    taken as they are (no normalisation, no per-value checks): for data written
    by retainlib itself.  ``frame`` may carry a ``ROW`` column (1-based line numbers from a file);
    otherwise rows are numbered from 1.  ``defaults`` gives constant values for
    canonical columns absent from the input (``{"currency": "EUR"}``).
    ``bounds``: per text column, its lowest and highest value (from Parquet
    statistics), which spare the checks no value between them can fail.
    Raises :class:`SchemaError` for column-level problems.
    """
    try:
        schema = frame.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(
            f"cannot read the table's columns: {exc}",
            table=spec.name,
            column="*",
            expected="a table",
            actual=None,
            file=file,
        ) from exc
    names = [n for n in schema.names() if n != ROW]
    defaults = dict(defaults or {})
    unknown_defaults = [k for k in defaults if k not in spec.schema]
    if unknown_defaults:
        raise SchemaError(
            f"defaults given for non-canonical column(s) {unknown_defaults}",
            table=spec.name,
            column=unknown_defaults[0],
            expected="a canonical column",
            actual=None,
            file=file,
        )
    fill = {k: v for k, v in defaults.items() if k not in names}
    if fill:
        frame = frame.with_columns(pl.lit(v).alias(k) for k, v in fill.items())
        schema = frame.collect_schema()
    if any(c not in schema for c in spec.required):
        raise _missing(spec, names, file)
    if ROW not in schema and number_rows:  # without numbers (a guard's fast path), rows cannot be reported
        frame = frame.with_row_index(ROW, offset=1)

    # Stages of columns, so that expensive parses run once: helpers (first ones, then those reading
    # them), values, then one boolean per column check (stage 3).  The texts explaining a check are
    # expressions too, but they are evaluated only on the rows found bad (:meth:`Conformed.explain`),
    # so they may read the raw input and the helpers, which the checked frame keeps.
    first: list[pl.Expr] = []
    second: list[pl.Expr] = []  # helpers reading the first ones (a second parse of what the first left)
    helpers: list[pl.Expr] = []
    values: list[pl.Expr] = []
    problems: list[pl.Expr] = []  # labelled texts ("amount: not a number"), built only for bad rows
    checks: list[pl.Expr] = []  # one boolean column per checked column or rule (stage 3)
    by_column: dict[str, list[pl.Expr]] = {}  # the check columns, by the canonical column they concern
    raw_kept: list[str] = []  # input columns the explanations read
    for c in spec.columns:
        vname = _value_name(c.name)
        if c.name not in schema:
            values.append(pl.lit(None, dtype=c.dtype).alias(vname))
            continue
        # Trusted: the canonical type says it all, but for scores (an Int8 still has to lie in 0..10).
        if trust_canonical and schema[c.name] == c.dtype and c.kind is not Kind.SCORE:
            coerced = Coerced(pl.col(c.name), None, [])
        else:
            coerced = _coerce(c, schema[c.name], spec, tz, file, (bounds or {}).get(c.name))
            raw_kept.append(c.name)
        first.extend(coerced.first)
        second.extend(coerced.second)
        helpers.extend(coerced.helpers)
        values.append(coerced.value.cast(c.dtype).alias(vname))
        # One boolean per column: the coercion's check, or a missing value where one is required.
        value = pl.col(vname)
        flag = coerced.flag if coerced.flag is not None else None
        if flag is None and coerced.problem is not None:
            flag = coerced.problem.is_not_null()
        if not c.nullable:
            flag = value.is_null() if flag is None else flag | value.is_null()
        if flag is None:
            continue
        bname = f"__b_{c.name}"
        checks.append(flag.fill_null(False).alias(bname))
        missing = pl.lit("missing value")
        reason = missing if coerced.problem is None else pl.coalesce(coerced.problem, missing)
        problems.append(pl.when(pl.col(bname)).then(pl.lit(f"{c.name}: ") + reason))
        by_column.setdefault(c.name, []).append(pl.col(bname))
    for number, (column, broken, why) in enumerate(_row_rules(spec, schema)):
        rname = f"__r{number}_{column}"
        checks.append(broken.fill_null(False).alias(rname))
        problems.append(pl.when(pl.col(rname)).then(pl.lit(f"{column}: {why}")))
        by_column.setdefault(column, []).append(pl.col(rname))
    if check_duplicates and spec.key is not None:
        key = pl.col(_value_name(spec.key))
        # A window over the whole table: kept as a column, so it is never evaluated on filtered rows.
        checks.append((~key.is_first_distinct() & key.is_not_null()).alias(DUPLICATE))
        problems.append(pl.when(pl.col(DUPLICATE)).then(pl.lit(f"{spec.key}: duplicate id")))
        # A repeated record also counts its money twice: the money columns carry the check too.
        for column in (spec.key, *(c.name for c in spec.columns if c.kind is Kind.MONEY)):
            by_column.setdefault(column, []).append(pl.col(DUPLICATE))
    extras_names = [n for n in names if n not in spec.schema]
    extras = [pl.col(n) for n in extras_names]
    check_names = [e.meta.output_name() for e in checks]
    bad = pl.any_horizontal([pl.col(n) for n in check_names]) if checks else pl.lit(False)
    if first:
        frame = frame.with_columns(first)
    if second:
        frame = frame.with_columns(second)
    if helpers:
        frame = frame.with_columns(helpers)
    frame = frame.with_columns(values)
    if checks:
        frame = frame.with_columns(checks)
    frame = frame.with_columns(bad.alias(BAD))
    output = tuple(pl.col(_value_name(c.name)).alias(c.name) for c in spec.columns)
    numbered = [ROW] if ROW in frame.collect_schema() else []
    # Only the helpers the explanations read are kept (a stripped id, a first parse: scratch, dropped).
    read = {n for problem in problems for n in problem.meta.root_names()}
    helper_names = [n for n in (e.meta.output_name() for e in (*first, *second, *helpers)) if n in read]
    raw = [n for n in raw_kept if n not in extras_names]
    kept = (*numbered, *(_value_name(c.name) for c in spec.columns), *extras_names, *raw, *helper_names)
    kept = (*dict.fromkeys(kept), *check_names, BAD)
    return Conformed(
        spec=spec,
        frame=frame,
        coerced=(*output, *extras),
        problems=tuple(problems),
        file=file,
        extras=tuple(extras_names),
        checked=kept,
        checks=tuple(check_names),
        flags={column: pl.any_horizontal(f) for column, f in by_column.items() if f},
    )


def _value_name(column: str) -> str:
    return f"__v_{column}"


def value(column: str) -> pl.Expr:
    """The coerced value of a canonical ``column`` inside :attr:`Conformed.frame` (for extra rules)."""
    return pl.col(_value_name(column))


#: Why an order row with a negative amount is not an order (the refunds rule).
NEGATIVE_AMOUNT = "negative amount (a refund or cancellation)"


def negative_amount(amount: pl.Expr) -> pl.Expr:
    """The refunds rule on an order's amount: :data:`NEGATIVE_AMOUNT` when it is negative, else null.

    An order row with a negative amount is a refund or a cancellation
    (a cancellation invoice), not a purchase: counted as an order it would
    make its customer look active and inflate repeat rates and cohorts.  The
    built-in file sources reject such rows with this reason (or net them
    against the order they cancel, with ``refunds="net"``).  A zero amount is
    an order (a free one) and passes.

    Examples
    --------
    >>> df = pl.DataFrame({"amount": [5, 0, -5]})
    >>> df.select(negative_amount(pl.col("amount"))).to_series().to_list()
    [None, None, 'negative amount (a refund or cancellation)']
    """
    return pl.when(amount < 0).then(pl.lit(NEGATIVE_AMOUNT))


def money_limit() -> pl.Expr:
    """:data:`~retainlib.tables.MONEY_LIMIT` as a money literal.

    Built from its text: a ``Decimal`` literal makes polars import numpy, a
    quarter of a second the first time.
    """
    return pl.lit(str(MONEY_LIMIT)).cast(MONEY)


#: Why an amount is refused: sums of amounts past this could overflow ``Decimal(38, 4)``.
MONEY_RANGE = f"out of range (at most {MONEY_DIGITS} integer digits)"


def too_large(money: pl.Expr) -> pl.Expr:
    """Whether an amount is out of the canonical range (:data:`MONEY_RANGE`)."""
    return money.abs() >= money_limit()


def _row_rules(spec: TableSpec, schema: pl.Schema) -> list[tuple[str, pl.Expr, str]]:
    """Rules over a row's coerced values: the column each is reported under, whether a row breaks it, why."""
    names = {c.name for c in spec.columns}
    rules: list[tuple[str, pl.Expr, str]] = []
    for start, end in (("started_at", "ended_at"), ("opened_at", "solved_at")):
        if start in names and end in names and end in schema:
            rules.append((end, pl.col(_value_name(end)) < pl.col(_value_name(start)), f"before {start}"))
    if "mrr" in names:
        rules.append(("mrr", pl.col(_value_name("mrr")) < 0, "negative"))
    for c in spec.columns:
        if c.kind is Kind.MONEY and c.name in schema:
            rules.append((c.name, too_large(pl.col(_value_name(c.name))), MONEY_RANGE))
    return rules


def raise_problems(c: Conformed, *, limit: int = 5) -> None:
    """Raise one :class:`DataError` listing every problem of the table, if any."""
    bad = c.explain(c.frame.filter(pl.col(BAD))).explode(PROBLEMS).with_columns(pl.col(PROBLEMS).alias(PROBLEM))
    counts, shown, rows_bad = pl.collect_all(
        [
            bad.group_by(PROBLEM).agg(pl.len().alias("count")).sort(["count", PROBLEM], descending=[True, False]),
            bad.filter(pl.int_range(pl.len()).over(PROBLEM) < limit),
            c.frame.filter(pl.col(BAD)).select(pl.len()),
        ]
    )
    if counts.height == 0:
        return
    problems = []
    for problem, count in counts.iter_rows():
        column, reason = str(problem).split(": ", 1)
        cols = [ROW] + [k for k in dict.fromkeys([c.spec.key or "", column]) if k and k in shown.columns]
        rows = shown.filter(pl.col(PROBLEM) == problem).select(cols).rename({ROW: "row"})
        problems.append(
            Problem(table=c.spec.name, column=column, reason=reason, count=int(count), rows=rows, file=c.file)
        )
    raise DataError(problems, rows=int(rows_bad.item()))


def rejects_frame(c: Conformed, frame: pl.LazyFrame, *, file: str) -> pl.LazyFrame:
    """Rejected rows in the load-report shape (file, line, table, column, reason).

    ``column`` is the column of the row's first problem; ``reason`` lists all of
    them (``"amount: not a number; currency: not an ISO 4217 currency code"``).
    """
    first = pl.col(PROBLEMS).list.first().str.splitn(": ", 2)
    return frame.select(
        pl.lit(file).alias("file"),
        pl.col(ROW).cast(pl.Int64).alias("line"),
        pl.lit(c.spec.name).alias("table"),
        first.struct.field("field_0").alias("column"),
        pl.col(PROBLEM).alias("reason"),
    )


def split(c: Conformed, *, file: str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The loaded rows (canonical table) and the rejected ones (report shape)."""
    ok = c.output(c.frame.filter(~pl.col(BAD)))
    rejected = rejects_frame(c, c.explain(c.frame.filter(pl.col(BAD))), file=file)
    return ok, rejected
