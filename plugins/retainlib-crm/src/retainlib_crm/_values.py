"""Polars expressions turning the text of CRM exports into values, each with the reason a text is not one.

Every parser takes a text expression (already stripped, blanks as null: see
:func:`clean`) and a name, and returns a :class:`Parsed`: the *stages* of
helper columns to add to the frame, one ``with_columns`` each (:func:`staged`),
then the value and, beside it, why a non-blank text gives no value (null when
it does), both reading those helper columns.  Computing each step once into a
column keeps the plans small: a parse written as one expression would repeat
its sub-expressions in every branch that reads them.  Nothing loops over rows.

* money: plain decimals (``"1.0"``, ``"1250.50"``) and, for report exports,
  numbers written in a locale (``"1,234.56"``, ``"1.234,56"``, ``"USD 10,000"``);
* times: ISO 8601 with an offset, local times without one (``"2024-03-01
  10:00"``, read in a given zone), calendar dates, and the numeric dates of
  locales (``"3/1/2024 1:05 PM"``, ``"01.03.2024"``);
* booleans: ``1``/``0``, ``true``/``false``, ``yes``/``no``;
* Salesforce ids: 15 and 18 characters, canonicalised to 18 (see :func:`salesforce_id`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

import attrs
import polars as pl

from retainlib._conform import MONEY_RANGE, money_limit
from retainlib.tables import MONEY, MONEY_PLACES, TIMESTAMP

__all__ = [
    "EMPTY_LOOKUP",
    "Order",
    "Parsed",
    "boolean",
    "clean",
    "instant",
    "label",
    "locale_money",
    "money",
    "salesforce_id",
    "staged",
]

#: The order of day, month and year in a locale's numeric dates.
Order = Literal["DMY", "MDY", "YMD"]
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

_NULL_TEXT = pl.lit(None, dtype=pl.String)


def _false() -> pl.Expr:
    return pl.lit(False)


def _no_text() -> pl.Expr:
    return pl.lit(None, dtype=pl.String)


@attrs.frozen(kw_only=True)
class Parsed:
    """A column being parsed.

    Attributes:
        stages: helper columns, one ``with_columns`` per stage, in order.
        value: the value (reads the helper columns).
        why: why a non-blank text gives no value (null otherwise, and where a flag below is set).
        needs_zone: a local time with a time of day while no zone was given (the file is refused).
        needs_locale: a date or number whose reading depends on the locale while none was given.
        code: for money written with a currency code beside it (``USD 10,000``), that code.
    """

    stages: tuple[tuple[pl.Expr, ...], ...]
    value: pl.Expr
    why: pl.Expr
    needs_zone: pl.Expr = attrs.field(factory=_false)
    needs_locale: pl.Expr = attrs.field(factory=_false)
    code: pl.Expr = attrs.field(factory=_no_text)


def staged(frame: Frame, parsed: Sequence[Parsed]) -> Frame:
    """``frame`` with the helper columns of every parse, stage by stage (stage *i* of all parses at once)."""
    depth = max((len(p.stages) for p in parsed), default=0)
    for i in range(depth):
        exprs = [e for p in parsed if i < len(p.stages) for e in p.stages[i]]
        if exprs:
            frame = frame.with_columns(exprs)
    return frame


def clean(text: pl.Expr) -> pl.Expr:
    """Text stripped of surrounding white space; blank as null."""
    s = text.str.strip_chars()
    return pl.when(s != "").then(s)


def label(text: pl.Expr) -> pl.Expr:
    """An enumeration's label or value as compared: lower case, letters and digits only (``Closed Won`` ->
    ``closedwon``), so that a label (``Closed won``) and its internal value (``closedwon``) compare equal."""
    return text.str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", "")


# --- money ----------------------------------------------------------------------------------------------------

#: A plain decimal: an optional sign, digits, an optional fraction.
_PLAIN = r"^[+-]?(\d+(\.\d+)?|\.\d+)$"
#: A digit other than zero past the 4th decimal place.
_TOO_PRECISE = rf"\.\d{{{MONEY_PLACES}}}\d*[1-9]"


def money(text: pl.Expr, name: str) -> Parsed:
    """Money from a plain decimal text (``"1.0"``, ``"-12.50"``).

    Refused, with the reason: anything but a sign, digits and one ``.``
    (``1e3``, ``1,000``, ``$5`` are "not a number"), a digit other than zero
    past the 4th decimal place, 20 integer digits or more, and negative amounts.
    """
    t, plain, precise, raw = f"_{name}_t", f"_{name}_plain", f"_{name}_precise", f"_{name}_raw"
    first = (
        text.alias(t),
        text.str.contains(_PLAIN).alias(plain),
        (~text.str.contains(_TOO_PRECISE)).alias(precise),
    )
    second = (pl.when(pl.col(plain) & pl.col(precise)).then(pl.col(t).cast(MONEY, strict=False)).alias(raw),)
    value = pl.col(raw)
    why = (
        pl.when(pl.col(t).is_null())
        .then(_NULL_TEXT)
        .when(~pl.col(plain))
        .then(pl.lit("not a number"))
        .when(~pl.col(precise))
        .then(pl.lit(f"more than {MONEY_PLACES} decimal places"))
        .when(value.is_null() | (value.abs() >= money_limit()))
        .then(pl.lit(MONEY_RANGE))
        .when(value < 0)
        .then(pl.lit("negative"))
    )
    w = f"_{name}_why"
    return Parsed(
        stages=(first, second, (why.alias(w),)), value=pl.when(pl.col(w).is_null()).then(value), why=pl.col(w)
    )


#: Characters a locale groups digits with, besides ``.`` and ``,``: spaces (no-break, narrow) and apostrophes.
_GROUPING = "[\u0020\u00a0\u202f\u2009'\u2019]"
#: Currency signs that may stand beside a number in a report.
_SIGNS = "[$€£¥₹]"


def locale_money(text: pl.Expr, name: str, decimal: str | None) -> Parsed:
    """Money written as a locale writes numbers, with the ISO code a report may write beside it.

    An ISO 4217 code before or after the number (``USD 10,000.00``, as
    multi-currency orgs write amounts) is taken off (:attr:`Parsed.code`);
    currency signs, spaces and apostrophes grouping digits are dropped;
    ``(12.00)`` is negative.  ``decimal`` is the locale's decimal mark (``"."``
    or ``","``).  Without one, the mark is told from the text where it can be
    (``1,234.56``, ``1.234,56``, ``12,5``, ``12.50``, ``1.234.567``);
    ``1,234`` and ``1.234`` (a thousand, or one and a fraction?) set
    :attr:`Parsed.needs_locale`.
    """
    bare, code, amb, plain = f"_{name}_bare", f"_{name}_code", f"_{name}_amb", f"_{name}_plaintext"
    first = (
        pl.coalesce(text.str.extract(r"^([A-Z]{3})\s*\S", 1), text.str.extract(r"\S\s*([A-Z]{3})$", 1)).alias(code),
        text.str.replace(r"^[A-Z]{3}\s*", "")
        .str.replace(r"\s*[A-Z]{3}$", "")
        .str.replace_all(_SIGNS, "")
        .str.replace_all(_GROUPING, "")
        .str.replace(r"^\((.*)\)$", "-$1")
        .alias(bare),
    )
    b = pl.col(bare)
    if decimal == ".":
        second = (b.str.replace_all(",", "", literal=True).alias(plain), pl.lit(False).alias(amb))
    elif decimal == ",":
        comma_decimal = b.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
        second = (comma_decimal.alias(plain), pl.lit(False).alias(amb))
    else:
        comma, dot = b.str.contains(",", literal=True), b.str.contains(".", literal=True)
        grouped_commas = b.str.contains(r"^[+-]?\d{1,3}(,\d{3})+$")
        grouped_dots = b.str.contains(r"^[+-]?\d{1,3}(\.\d{3})+$")
        many_dots = b.str.count_matches(".", literal=True) > 1
        told = (
            pl.when(comma & dot & b.str.contains(r"\.\d*,\d*$"))
            .then(b.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True))
            .when(comma & dot)
            .then(b.str.replace_all(",", "", literal=True))
            .when(comma & ~grouped_commas)
            .then(b.str.replace(",", ".", literal=True))
            .when(dot & grouped_dots & many_dots)
            .then(b.str.replace_all(".", "", literal=True))
            .otherwise(b)
        )
        ambiguous = ((comma & ~dot & grouped_commas) | (dot & ~comma & grouped_dots & ~many_dots)).fill_null(False)
        second = (told.alias(plain), ambiguous.alias(amb))
    parsed = money(pl.col(plain), name)
    why = pl.when(~pl.col(amb)).then(parsed.why)
    return Parsed(
        stages=(first, second, *parsed.stages),
        value=pl.when(~pl.col(amb)).then(parsed.value),
        why=why,
        needs_locale=pl.col(amb),
        code=pl.col(code),
    )


# --- booleans ---------------------------------------------------------------------------------------------

_TRUE = ("1", "true", "yes", "y", "x")
_FALSE = ("0", "false", "no", "n")


def boolean(text: pl.Expr, name: str) -> Parsed:
    """A checkbox (``1``/``0``, ``true``/``false``, ``yes``/``no``, any case)."""
    lower = text.str.to_lowercase()
    v = f"_{name}_bool"
    value = pl.when(lower.is_in(_TRUE)).then(pl.lit(True)).when(lower.is_in(_FALSE)).then(pl.lit(False))
    stage = (value.cast(pl.Boolean).alias(v), text.alias(f"_{name}_t"))
    why = pl.when(pl.col(f"_{name}_t").is_not_null() & pl.col(v).is_null()).then(
        pl.lit("not a boolean (expected 1/0 or true/false)")
    )
    return Parsed(stages=(stage,), value=pl.col(v), why=why)


# --- times ------------------------------------------------------------------------------------------------

#: ISO 8601 with an offset: ``2024-03-01T10:00:00Z``, ``2024-03-01 10:00:00.000+01:00``, ``... UTC``.
_AWARE = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?\s*([Zz]|UTC|utc|[+-]\d\d:?\d\d)$"
#: Numeric dates, with an optional time: ISO (``2024-03-01 10:00``), locales' (``3/1/2024 1:05 PM``, ``01.03.2024``).
_NUMERIC = (
    r"^(?P<a>\d{1,4})(?P<sep>[-/.])(?P<b>\d{1,2})[-/.](?P<c>\d{1,4})\.?"
    r"(?:(?:[ T]+|,\s*)(?P<hh>\d{1,2})[:.h](?P<mm>\d\d)(?::(?P<ss>\d\d)(?:[.,](?P<fr>\d{1,6})\d*)?)?"
    r"\s*(?:(?P<ap>[AaPp])\.?\s?[Mm]\.?)?)?$"
)


def _aware(text: pl.Expr) -> pl.Expr:
    normal = (
        text.str.replace(r"^(\d{4}-\d\d-\d\d)[T ]", "${1} ")
        .str.replace(r"\s*([Zz]|UTC|utc)$", "+0000")
        .str.replace(r"\s*([+-]\d\d):?(\d\d)$", "${1}${2}")
        .str.replace(r"^(\S+ \d\d:\d\d)([+-])", "${1}:00${2}")
    )
    return normal.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC")


def _zone(naive: pl.Expr, zone: str) -> pl.Expr:
    """Naive datetimes read as wall-clock times in ``zone``, as UTC instants (a skipped time is null)."""
    return naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def instant(
    text: pl.Expr,
    name: str,
    *,
    zone: str | None,
    date_zone: str,
    order: Order | None,
    as_date: bool = False,
    numeric: bool = True,
    hint: str = "expected 2024-03-01 10:00:00 or ISO 8601",
) -> Parsed:
    """Parse a time column.

    Parameters
    ----------
    text
        Cleaned text (blank as null).
    name
        A name unique among the parses of one frame (its helper columns' prefix).
    zone
        The zone of local times with a time of day; ``None``: such a time sets
        :attr:`Parsed.needs_zone` (the caller refuses the file and asks for one).
    date_zone
        The zone whose midnight starts a calendar date written without a time.
    order
        The day/month/year order of numeric dates (``3/1/2024``); ``None``: a
        date whose order is not plain (dots are always day.month.year; a year
        first is year/month/day) sets :attr:`Parsed.needs_locale`.
    as_date
        The column is a calendar date (``CloseDate``): a time of day written
        with it is dropped, and the value is the midnight starting the date in
        ``date_zone``.
    numeric
        Whether the numeric dates of locales (``3/1/2024``, ``01.03.2024``) are
        read at all; when not, only year-first dates are (the others are
        unreadable, never ambiguous).
    hint
        What the reason for an unreadable text says was expected.
    """
    n = f"_{name}_"
    t, fast, aware, groups = n + "t", n + "fast", n + "aware", n + "g"
    # Stage 0: the shapes exports write (2024-03-01 10:00, 2024-03-01 10:00:00) in two strict parses; the
    # general parse below then only sees the other texts (the fast ones are null there, and cost nothing).
    zeroth = (
        text.alias(t),
        pl.coalesce(
            text.str.to_datetime(f, strict=False, time_unit="us") for f in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
        ).alias(fast),
    )
    rest = pl.when(pl.col(fast).is_null()).then(pl.col(t))
    first = (
        pl.when(rest.str.contains(_AWARE)).then(_aware(rest)).alias(aware),
        rest.str.extract_groups(_NUMERIC).alias(groups),
    )
    g = pl.col(groups)
    a, sep, b, c = g.struct.field("a"), g.struct.field("sep"), g.struct.field("b"), g.struct.field("c")
    hh, mm, ss, fr, ap = (g.struct.field(x) for x in ("hh", "mm", "ss", "fr", "ap"))
    ymd = a.str.len_chars() == 4
    last_year = (c.str.len_chars() == 4) & (a.str.len_chars() <= 2) & pl.lit(numeric)
    dotted = sep == "."
    day_first = dotted if order in (None, "MDY") else pl.lit(True)
    hour = hh.cast(pl.Int32, strict=False)
    hour24 = (
        pl.when(ap.is_null())
        .then(hour)
        .when(hour > 12)
        .then(None)
        .otherwise(hour % 12 + pl.when(ap.str.to_lowercase() == "p").then(12).otherwise(0))
    )
    known, has_time, date_text, time_text = n + "known", n + "has_time", n + "date", n + "time"
    locale_dependent = n + "locale"
    is_fast = pl.col(fast).is_not_null()
    second = (
        (is_fast | (ymd | (last_year & (dotted | pl.lit(order is not None)))).fill_null(False)).alias(known),
        (is_fast | hh.is_not_null()).alias(has_time),
        pl.concat_str(
            pl.when(ymd).then(a).otherwise(c).str.zfill(4),
            pl.when(ymd | day_first).then(b).otherwise(a).str.zfill(2),
            pl.when(ymd).then(c).when(day_first).then(a).otherwise(b).str.zfill(2),
            separator="-",
        ).alias(date_text),
        (
            pl.concat_str(hour24.cast(pl.String).str.zfill(2), mm, ss.fill_null("00"), separator=":")
            + pl.when(fr.is_not_null()).then(pl.lit(".") + fr).otherwise(pl.lit(""))
        ).alias(time_text),
        (pl.col(t).is_not_null() & pl.col(aware).is_null() & last_year & ~dotted & pl.lit(order is None))
        .fill_null(False)
        .alias(locale_dependent),
    )
    day, local = n + "day", n + "local"
    general = pl.concat_str(pl.col(date_text), pl.col(time_text), separator=" ").str.to_datetime(
        "%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us"
    )
    third = (
        pl.coalesce(
            pl.col(fast).dt.date(),
            pl.when(pl.col(known)).then(pl.col(date_text).str.to_date("%Y-%m-%d", strict=False)),
        ).alias(day),
        pl.coalesce(pl.col(fast), pl.when(pl.col(known) & pl.col(has_time)).then(general)).alias(local),
    )
    midnight = _zone(pl.col(day).cast(pl.Datetime("us")), date_zone)
    is_aware = pl.col(aware).is_not_null()
    needs_zone = n + "needs_zone"
    if as_date:
        aware_day = pl.col(aware).dt.convert_time_zone(date_zone).dt.date().cast(pl.Datetime("us"))
        value = pl.coalesce(_zone(aware_day, date_zone), midnight)
        zone_flag = pl.lit(False)
    elif zone is None:
        value = pl.coalesce(pl.col(aware), pl.when(~pl.col(has_time)).then(midnight))
        zone_flag = (pl.col(t).is_not_null() & ~is_aware & pl.col(known) & pl.col(has_time)).fill_null(False)
    else:
        value = pl.coalesce(
            pl.col(aware), pl.when(pl.col(has_time)).then(_zone(pl.col(local), zone)).otherwise(midnight)
        )
        zone_flag = pl.lit(False)
    v = n + "value"
    fourth = (value.cast(TIMESTAMP).alias(v), zone_flag.alias(needs_zone))
    parsed = is_aware | (pl.col(known) & pl.col(day).is_not_null() & (~pl.col(has_time) | pl.col(local).is_not_null()))
    why = (
        pl.when(pl.col(t).is_null() | pl.col(needs_zone) | pl.col(locale_dependent))
        .then(_NULL_TEXT)
        .when(~parsed)
        .then(pl.lit(f"not a date and time ({hint})"))
        .when(pl.col(v).is_null())
        .then(pl.lit(f"a local time that does not exist in {zone or date_zone} (skipped by a clock change)"))
    )
    w = n + "why"
    return Parsed(
        stages=(zeroth, first, second, third, fourth, (why.alias(w),)),
        value=pl.col(v),
        why=pl.col(w),
        needs_zone=pl.col(needs_zone),
        needs_locale=pl.col(locale_dependent),
    )


# --- Salesforce ids ---------------------------------------------------------------------------------------

#: What an empty lookup field holds in a Data Export file.
EMPTY_LOOKUP = "000000000000000AAA"
#: The characters of an 18-character id's suffix, indexed by the 5 case bits of a block of 5 characters.
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID = r"^[A-Za-z0-9]{15}([A-Za-z0-5]{3})?$"


def _suffix(base: pl.Expr) -> pl.Expr:
    """The 3-character suffix Salesforce computes from a 15-character id's case.

    Each block of 5 characters gives one character of the suffix: bit *j* of
    its index in :data:`_SUFFIX` is set when the block's character *j* is an
    upper-case letter.  The blocks are written as binary digits (``1`` for an
    upper-case letter), read least significant bit first.
    """
    bits = base.str.replace_all("[^A-Z]", "0").str.replace_all("[A-Z]", "1")
    blocks = [bits.str.slice(5 * k, 5).str.reverse().str.to_integer(base=2, strict=False) for k in range(3)]
    letters = dict(enumerate(_SUFFIX))
    return pl.concat_str([index.replace_strict(letters, default=None, return_dtype=pl.String) for index in blocks])


def _restore_case(ids: pl.Series) -> pl.Series:
    """18-character ids whose first 15 characters lost their case, with the case their suffix records.

    Only the few ids that need it reach here (the others are null); an id whose
    suffix sets the case of a digit stays null (it is corrupt).
    """
    present = ids.is_not_null()
    if not present.any():  # the common case: no id lost its case
        return ids
    restored: list[str | None] = []
    for text in ids.filter(present).to_list():
        base, suffix = text[:15], text[15:].upper()
        chars: list[str] = []
        for position, ch in enumerate(base):
            upper = (_SUFFIX.index(suffix[position // 5]) >> (position % 5)) & 1
            if upper and not ch.isalpha():
                chars = []
                break
            chars.append(ch.upper() if upper else ch.lower())
        restored.append("".join(chars) + suffix if chars else None)
    return ids.scatter(present.arg_true(), pl.Series(ids.name, restored, dtype=pl.String))


def salesforce_id(text: pl.Expr, name: str) -> Parsed:
    """A Salesforce id as 18 characters (null when blank or an empty lookup).

    A 15-character id (reports, the interface's URLs) is case-sensitive; its
    18-character form appends 3 characters recording the case of the first 15,
    so the two name one record: a 15-character id gets its suffix.  An
    18-character id is kept (its suffix upper-case); one whose first 15
    characters lost their case (all lower or all upper case, as a tool that
    folds case leaves it) gets it back from the suffix; one whose mixed case
    disagrees with its suffix is refused (a corrupt id).  ``000000000000000AAA``
    (and ``000000000000000``), which a Data Export writes for an empty lookup,
    is null.
    """
    n = f"_{name}_"
    t, ok, base, given = n + "t", n + "ok", n + "base", n + "given"
    first = (
        text.alias(t),
        (text.str.contains(_ID) & ~text.str.contains(r"^0{15}([Aa]{3})?$")).fill_null(False).alias(ok),
        text.str.slice(0, 15).alias(base),
        text.str.slice(15, 3).str.to_uppercase().alias(given),
    )
    computed = n + "computed"
    second = (pl.when(pl.col(ok)).then(_suffix(pl.col(base))).alias(computed),)
    long = pl.col(t).str.len_chars() == 18
    mismatch = pl.col(ok) & long & (pl.col(given) != pl.col(computed))
    single_case = ~(pl.col(base).str.contains(r"[a-z]") & pl.col(base).str.contains(r"[A-Z]"))
    fixed = n + "restored"
    # Case lost on the way (one case only): the suffix gives it back; rare, so computed only for those ids.
    third = (
        pl.when(mismatch & single_case).then(pl.col(t)).map_batches(_restore_case, return_dtype=pl.String).alias(fixed),
    )
    value = (
        pl.when(~pl.col(ok))
        .then(_NULL_TEXT)
        .when(~long)
        .then(pl.col(base) + pl.col(computed))
        .when(~mismatch)
        .then(pl.col(base) + pl.col(given))
        .otherwise(pl.col(fixed))
    )
    v = n + "value"
    why = (
        pl.when(pl.col(t).is_null() | pl.col(t).str.contains(r"^0{15}([Aa]{3})?$"))
        .then(_NULL_TEXT)
        .when(~pl.col(t).str.contains(_ID))
        .then(pl.lit("not a Salesforce id (15 or 18 letters and digits)"))
        .when(pl.col(v).is_null())
        .then(pl.lit("not a valid Salesforce id (its last 3 characters do not match the first 15)"))
    )
    w = n + "why"
    return Parsed(stages=(first, second, third, (value.alias(v),), (why.alias(w),)), value=pl.col(v), why=pl.col(w))
