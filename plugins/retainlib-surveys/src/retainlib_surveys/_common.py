"""What the three survey sources share: options, respondents, conforming the responses, the result.

Each reader turns a file into a frame of text (or already typed) columns:

* ``ROW``: the record's line;
* ``response_id``, ``customer_id``, ``responded_at``, ``score``: the values
  the core's conforming (:mod:`retainlib._conform`) coerces and checks like
  every other source's, so that types, duplicate ids and score checks read the
  same everywhere;
* ``_email``, ``_name`` and ``_known``: the respondent's normalised e-mail,
  name, and whether it is identified (an anonymous response is not);
* one column per vendor rule (``_why_...``), the reason a record breaks it
  or null: a partial response, a survey type that is not NPS, a date in the
  export's format that does not parse.

:func:`conform_file` conforms that frame, adds the vendor rules, splits it
into loaded responses and rejects, and writes the core's canonical column
names in the reasons as the export calls them (``Respondent ID: duplicate
id``).  Where a vendor rule already explains a value (a date that does not
parse), the value handed to conforming is a placeholder, so that each problem
is reported once; a rejected record's values are never loaded.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import attrs
import polars as pl

from retainlib import Dataset, _conform
from retainlib.calendar import check_tz
from retainlib.errors import OptionError, SourceError
from retainlib.load_report import REJECTS_SCHEMA, FileLoad, LoadReport
from retainlib.plugins import ReadResult, progress
from retainlib.tables import CUSTOMERS, RESPONSES, TIMESTAMP

__all__ = [
    "ANONYMOUS",
    "EMAIL_PATTERN",
    "NPS_QUESTION",
    "PLACEHOLDER_TIME",
    "ROW",
    "Anonymous",
    "Prepared",
    "anonymous_reason",
    "assemble",
    "check_anonymous",
    "check_encoding",
    "check_name",
    "check_paths",
    "check_tz_option",
    "conform_file",
    "email_reason",
    "find_question",
    "normal_email",
    "respondent",
    "utc",
]

ROW = _conform.ROW
#: What an e-mail looks like: something, ``@``, something, no white space (checked after normalising).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
#: Prefix of the customer id of a kept anonymous response (``anonymous:<response id>``).
ANONYMOUS = "anonymous:"
#: A placeholder time for a value a vendor rule already explains (never loaded).
PLACEHOLDER_TIME = dt.datetime(1970, 1, 1)

Anonymous = Literal["reject", "keep"]


# --- options ------------------------------------------------------------------------------------


def check_paths(paths: Sequence[Path], source: str) -> None:
    """At least one file to read."""
    if not paths:
        raise OptionError(f"the {source} source needs at least one file", option="paths", value=list(paths))


def check_anonymous(value: object) -> Anonymous:
    """The ``anonymous`` option: ``"reject"`` (default) or ``"keep"``."""
    if value is None:
        return "reject"
    choice = value.strip().lower() if isinstance(value, str) else value
    return OptionError.one_of(
        choice,
        ("reject", "keep"),
        option="anonymous",
        message=f"anonymous is 'reject' or 'keep', got {value!r}",
    )


def check_name(value: object, option: str, what: str) -> str | None:
    """A text option naming a question, column or field (``None`` when not given)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise OptionError(f"{option} is the {what}, as text, got {value!r}", option=option, value=value)
    return value.strip()


def check_encoding(value: object) -> str | None:
    """The ``encoding`` option: a codec name (``None``: UTF-8, or UTF-16 when the file has its byte-order mark)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise OptionError(f"encoding is a name such as 'cp1252', got {value!r}", option="encoding", value=value)
    try:
        name = codecs.lookup(value).name
    except LookupError:
        raise OptionError(f"unknown encoding {value!r}", option="encoding", value=value) from None
    return "utf-8" if name in ("utf-8", "utf-8-sig") else name


def check_tz_option(tz: object, source: str, example: str) -> str:
    """The required ``tz`` option of an export whose times carry no zone."""
    if tz is None:
        raise OptionError(
            f"{source} exports give local times without a time zone: pass tz= the survey account's time zone "
            f"(an IANA name, e.g. tz={example!r}, or tz='UTC'); retainlib never guesses a zone",
            option="tz",
            value=tz,
        )
    return check_tz(tz)


# --- respondents --------------------------------------------------------------------------------


def normal_email(raw: pl.Expr) -> pl.Expr:
    """The normalised e-mail (stripped, lower-cased) when ``raw`` looks like one, else null."""
    s = raw.str.strip_chars().str.to_lowercase()
    return pl.when(s.str.contains(EMAIL_PATTERN)).then(s)


def email_reason(raw: pl.Expr) -> pl.Expr:
    """Why ``raw`` gives no e-mail: null when it gives one, or when it is blank (an anonymous response)."""
    s = raw.str.strip_chars()
    return pl.when((s != "") & ~s.str.to_lowercase().str.contains(EMAIL_PATTERN)).then(pl.lit("not an e-mail address"))


def anonymous_reason(known: pl.Expr, policy: Anonymous, raw_email: pl.Expr, what: str) -> pl.Expr:
    """The reason an unidentified response is rejected under ``policy`` (null when it is identified or kept).

    ``what`` says what would have identified it (``"no e-mail address"``).
    """
    if policy == "keep":
        return pl.lit(None, dtype=pl.String)
    hint = " (an anonymous response; anonymous='keep' keeps it)"
    bad = email_reason(raw_email)
    return pl.when(~known).then(pl.coalesce(bad, pl.lit(what)) + pl.lit(hint))


def respondent(email: pl.Expr, response_id: pl.Expr, other: pl.Expr | None = None) -> tuple[pl.Expr, pl.Expr]:
    """``(customer_id, known)``: the e-mail, else ``other`` (a vendor's person id), else ``anonymous:<response id>``."""
    fallback = pl.concat_str(pl.lit(ANONYMOUS), response_id.fill_null(""))
    keys = [email] if other is None else [email, other]
    known = pl.any_horizontal(k.is_not_null() for k in keys)
    return pl.coalesce(*keys, fallback), known


# --- conforming ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Prepared:
    """One file's records ready to be conformed.

    Attributes:
        path: the file.
        frame: ``ROW``, the canonical columns, ``_email``, ``_name``, ``_known`` and the rule columns.
        rules: (the export's name for what a rule checks, the column holding its reason or null), in order.
        labels: canonical column -> the export's name for it, used in the reasons.
        rejected: records refused before conforming (line, reason), e.g. invalid JSON lines.
    """

    path: Path
    frame: pl.LazyFrame
    rules: Sequence[tuple[str, str]]
    labels: Mapping[str, str]
    rejected: Sequence[tuple[int, str]] = ()


_HELPERS = ("_email", "_name", "_known")


def _relabel(rejected: pl.LazyFrame, labels: Mapping[str, str]) -> pl.LazyFrame:
    """The reasons with the canonical column names written as the export names them."""
    reason = pl.col("reason")
    for canonical, label in labels.items():
        reason = reason.str.replace_all(rf"(^|; ){canonical}: ", "${1}" + label.replace("$", "$$") + ": ")
    relabelled = rejected.with_columns(reason.alias("reason"))
    return relabelled.with_columns(pl.col("reason").str.splitn(": ", 2).struct.field("field_0").alias("column"))


def _prerejects(path: Path, rows: Sequence[tuple[int, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "file": [str(path)] * len(rows),
            "line": [line for line, _ in rows],
            "table": ["responses"] * len(rows),
            "column": ["*"] * len(rows),
            "reason": [reason for _, reason in rows],
        },
        schema=REJECTS_SCHEMA,
    )


def conform_file(prepared: Prepared, *, tz: str | None = None) -> tuple[pl.DataFrame, FileLoad]:
    """Conform one file's responses: the loaded ones (with ``_email``, ``_name``, ``_known``) and its load."""
    path = prepared.path
    try:
        # In memory first: conforming reads each column several times, and the values are computed once here.
        frame = prepared.frame.collect()
    except pl.exceptions.PolarsError as exc:  # never expected: the values are text or typed already
        raise SourceError(f"cannot read: {exc}", file=path) from None
    conformed = _conform.conform(frame.lazy(), RESPONSES, tz=tz, file=path, check_duplicates=True)
    for label, name in prepared.rules:  # one at a time: two rules may report under one name
        conformed = conformed.with_rules({label: pl.col(name)})
    try:
        conformed = conformed.collect()
        loaded_lf, rejected_lf = _conform.split(conformed, file=str(path))
        loaded, rejected = pl.collect_all([loaded_lf, _relabel(rejected_lf, prepared.labels)])
    except pl.exceptions.PolarsError as exc:  # never expected: the values are text or typed already
        raise SourceError(f"cannot read: {exc}", file=path) from None
    read = conformed.frame.select(pl.len()).collect().item()
    if prepared.rejected:
        rejected = pl.concat([rejected.select(REJECTS_SCHEMA.names()), _prerejects(path, prepared.rejected)])
        rejected = rejected.sort("line")
    load = FileLoad(
        file=str(path),
        table="responses",
        rows_read=int(read) + len(prepared.rejected),
        rows_loaded=loaded.height,
        rejected=rejected,
    )
    progress(path, load.rows_read)
    keep = [*RESPONSES.schema.names(), *_HELPERS]
    return loaded.select(keep), load


def _customers(responses: pl.DataFrame) -> pl.DataFrame:
    """One row per identified respondent: created at their first response read, with e-mail and name."""
    return (
        responses.filter(pl.col("_known"))
        .sort("responded_at", maintain_order=True)
        .group_by("customer_id", maintain_order=True)
        .agg(
            pl.col("responded_at").first().alias("created_at"),
            pl.col("_email").drop_nulls().first().alias("email"),
            pl.col("_name").drop_nulls().first().alias("name"),
        )
        .select(pl.col(n).cast(t) for n, t in CUSTOMERS.schema.items())
    )


def assemble(name: str, parts: Sequence[tuple[pl.DataFrame, FileLoad]]) -> ReadResult:
    """The read's result: the responses of every file, the respondents as customers, the report."""
    frames = [frame for frame, _ in parts]
    schema = pl.Schema({**RESPONSES.schema, "_email": pl.String(), "_name": pl.String(), "_known": pl.Boolean()})
    every = pl.concat([pl.DataFrame(schema=schema), *frames], how="vertical_relaxed")
    responses = every.select(RESPONSES.schema.names())
    # Rows were checked file by file (validated once): across files only an id can repeat.
    repeated = len(frames) > 1 and bool(responses["response_id"].is_duplicated().any())
    dataset = Dataset(
        responses=responses,
        customers=_customers(every),
        validate="full" if repeated else "none",
        source=name,
    )
    return ReadResult(dataset=dataset, report=LoadReport(source=name, files=tuple(load for _, load in parts)))


def utc(naive: pl.Expr) -> pl.Expr:
    """Naive times read as UTC, in the canonical type."""
    return naive.dt.replace_time_zone("UTC").cast(TIMESTAMP)


# --- finding the NPS question ------------------------------------------------------------------

#: The NPS question's wording: "How likely are you to recommend ...", "How likely is it that you would recommend ...".
NPS_QUESTION = re.compile(r"\blikely\b.*\brecommend", re.IGNORECASE | re.DOTALL)
_SHOWN = 10


def _folded(text_: str) -> str:
    return " ".join(text_.split()).casefold()


def _shown(names: Sequence[str]) -> str:
    shown = [repr(n if len(n) <= 60 else n[:57] + "...") for n in names[:_SHOWN]]
    return ", ".join(shown) + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def find_question(
    titles: Mapping[int, str], question: str | None, *, path: Path, source: str, what: str = "question"
) -> int:
    """The position of the NPS question among ``titles`` (position -> the header's text of each question).

    With ``question`` (the option), the title equal to it (white space and case
    aside), else the only title containing it; without it, the only title
    worded like the NPS question (``NPS_QUESTION``).  Anything else is a
    :class:`SourceError` listing the questions, so that the user can name one.
    """
    if question is not None:
        wanted = _folded(question)
        exact = [i for i, t in titles.items() if _folded(t) == wanted]
        found = exact or [i for i, t in titles.items() if wanted in _folded(t)]
        if len(found) == 1:
            return found[0]
        if found:
            raise SourceError(
                f"question={question!r} matches several {what}s ({_shown([titles[i] for i in found])}); "
                "give the whole text of one",
                file=path,
                source=source,
            )
        raise SourceError(
            f"no {what} matches question={question!r}; the {what}s are {_shown(list(titles.values())) or 'none'}",
            file=path,
            source=source,
        )
    found = [i for i, t in titles.items() if NPS_QUESTION.search(t)]
    if len(found) == 1:
        return found[0]
    if found:
        raise SourceError(
            f"several {what}s read like the NPS question ({_shown([titles[i] for i in found])}); "
            "pass question= with the text of the one to read",
            file=path,
            source=source,
        )
    raise SourceError(
        f"no {what} reads like the NPS question ('How likely are you to recommend ...'); pass question= with its "
        f"text; the {what}s are {_shown(list(titles.values())) or 'none'}",
        file=path,
        source=source,
    )
