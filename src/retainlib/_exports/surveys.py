"""A Dataset's NPS responses written as survey tools' exports: SurveyMonkey CSV, Typeform CSV, Delighted JSON.

Each writer takes the canonical ``responses`` table and, when given, the
``customers`` table for each respondent's e-mail (and name), and writes one
file in the tool's format, so that demos, docs and benchmarks read
real-looking files through the ``surveymonkey``, ``typeform`` and
``delighted`` sources (plugin ``retainlib-surveys``).  Reading a file back
with its source gives the same responses: ids, scores, instants to the second
(the tools write no fraction), and as ``customer_id`` the respondent's
normalised e-mail, the sources' key for a respondent.  A response whose
customer has no e-mail is written without one: the sources reject it (an
anonymous response) unless read with ``anonymous='keep'``.

* :func:`write_surveymonkey_export`: the "All individual responses" CSV, two
  header lines (respondent columns then the NPS question; sub-labels), dates
  ``MM/DD/YYYY hh:mm:ss AM/PM`` in the zone ``tz`` (read them back with the
  same ``tz``), answers 0 and 10 written as the scale's labels
  (``0 - Not at all likely``, ``10 - Extremely likely``), the others as
  numbers, as an export of "actual answer text" does;
* :func:`write_typeform_export`: the responses CSV download, ``#`` the
  response id, the NPS question's column, the hidden field ``email``, every
  response ``completed``, dates in UTC;
* :func:`write_delighted_json`: the API's JSON array of survey responses,
  ``survey_type`` ``nps``, ``person`` expanded (its id the canonical
  ``customer_id``, its ``email`` and ``name``), ``created_at`` in epoch seconds.

Everything is polars expressions (no Python object per row).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from retainlib._exports import _common
from retainlib.calendar import check_tz

__all__ = [
    "NPS_QUESTION",
    "SURVEYMONKEY_COLUMNS",
    "TYPEFORM_COLUMNS",
    "write_delighted_json",
    "write_surveymonkey_export",
    "write_typeform_export",
]

FrameLike = _common.FrameLike
Tables = _common.Tables

#: The NPS question's wording in the files written.
NPS_QUESTION = "How likely is it that you would recommend us to a friend or colleague?"
#: SurveyMonkey's respondent columns, before the questions.
SURVEYMONKEY_COLUMNS: tuple[str, ...] = (
    "Respondent ID",
    "Collector ID",
    "Start Date",
    "End Date",
    "IP Address",
    "Email Address",
    "First Name",
    "Last Name",
    "Custom Data 1",
)
#: Typeform's columns after the questions and hidden fields.
TYPEFORM_COLUMNS: tuple[str, ...] = (
    "Response Type",
    "Start Date (UTC)",
    "Stage Date (UTC)",
    "Submit Date (UTC)",
    "Network ID",
    "Tags",
)
_COLLECTOR = "400000001"
_SURVEYMONKEY_DATE = "%m/%d/%Y %I:%M:%S %p"
_TYPEFORM_DATE = "%Y-%m-%d %H:%M:%S"


def _respondents(data: Tables) -> pl.LazyFrame:
    """The responses with ``email`` and ``name`` of their customers (null when unknown), whole seconds."""
    responses = _common.table(data, "responses", required=True)
    assert responses is not None
    customers = _common.table(data, "customers", required=False)
    if customers is None:
        people = pl.LazyFrame(schema={"customer_id": pl.String, "email": pl.String, "name": pl.String})
    else:
        names = customers.collect_schema().names()
        people = customers.select(
            "customer_id",
            (pl.col("email") if "email" in names else pl.lit(None, pl.String)).alias("email"),
            (pl.col("name") if "name" in names else pl.lit(None, pl.String)).alias("name"),
        ).unique(subset="customer_id", keep="first", maintain_order=True)
    return responses.select(
        "response_id", "customer_id", pl.col("responded_at").dt.truncate("1s"), pl.col("score").cast(pl.Int64)
    ).join(people, on="customer_id", how="left", maintain_order="left")


def _write(path: Path, header: list[list[str]], frame: pl.DataFrame) -> Path:
    """Header lines written by the csv module, then the rows by polars, into one UTF-8 file."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerows(header)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(text.getvalue().encode("utf-8"))
        frame.write_csv(f, include_header=False, line_terminator="\n")
    return path


def write_surveymonkey_export(data: Tables, path: str | Path, *, tz: str = "UTC") -> Path:
    """Write the responses as SurveyMonkey's "All individual responses" CSV export; return the file's path.

    Parameters
    ----------
    data
        A :class:`~retainlib.Dataset`, or a mapping ``{"responses": frame,
        "customers": frame}`` of canonical frames; ``customers`` (optional)
        gives the e-mails (``Email Address``) and names (``First Name``,
        ``Last Name``, split at the first space).
    path
        The CSV file to write.
    tz
        The zone of the dates written (the survey account's zone); read the
        file back with the same ``tz``.  In a zone with summer time, an
        instant in the hour repeated when clocks go back reads back as the
        first of the two.
    """
    zone = check_tz(tz)
    local = pl.col("responded_at").dt.convert_time_zone(zone).dt.strftime(_SURVEYMONKEY_DATE)
    name = pl.col("name").str.strip_chars()
    score = pl.col("score")
    answer = (
        pl.when(score == 0)
        .then(pl.lit("0 - Not at all likely"))
        .when(score == 10)
        .then(pl.lit("10 - Extremely likely"))
        .otherwise(score.cast(pl.String))
    )
    rows = _respondents(data).select(
        pl.col("response_id").alias("Respondent ID"),
        pl.lit(_COLLECTOR).alias("Collector ID"),
        local.alias("Start Date"),
        local.alias("End Date"),
        pl.lit(None, dtype=pl.String).alias("IP Address"),
        pl.col("email").alias("Email Address"),
        name.str.extract(r"^(\S+)", 1).alias("First Name"),
        name.str.extract(r"^\S+\s+(.+)$", 1).alias("Last Name"),
        pl.lit(None, dtype=pl.String).alias("Custom Data 1"),
        answer.alias(NPS_QUESTION),
    )
    header = [[*SURVEYMONKEY_COLUMNS, NPS_QUESTION], [""] * len(SURVEYMONKEY_COLUMNS) + ["Response"]]
    return _write(Path(path), header, rows.collect())


def write_typeform_export(data: Tables, path: str | Path) -> Path:
    """Write the responses as Typeform's responses CSV download; return the file's path.

    ``#`` is the response id, the NPS question's column the score, the hidden
    field ``email`` the customer's e-mail (from ``customers``, when given);
    every response is ``completed``, started a minute before it was submitted.
    """
    submitted = pl.col("responded_at")
    started = (submitted - pl.duration(minutes=1)).dt.strftime(_TYPEFORM_DATE)
    rows = _respondents(data).select(
        pl.col("response_id").alias("#"),
        pl.col("score").cast(pl.String).alias(NPS_QUESTION),
        pl.col("email").alias("email"),
        pl.lit("completed").alias("Response Type"),
        started.alias("Start Date (UTC)"),
        submitted.dt.strftime(_TYPEFORM_DATE).alias("Stage Date (UTC)"),
        submitted.dt.strftime(_TYPEFORM_DATE).alias("Submit Date (UTC)"),
        pl.lit(None, dtype=pl.String).alias("Network ID"),
        pl.lit(None, dtype=pl.String).alias("Tags"),
    )
    return _write(Path(path), [["#", NPS_QUESTION, "email", *TYPEFORM_COLUMNS]], rows.collect())


def write_delighted_json(data: Tables, path: str | Path) -> Path:
    """Write the responses as Delighted's API survey responses (a JSON array); return the file's path.

    ``id`` is the response id; ``person`` is expanded: ``{"id": customer_id,
    "email": ..., "name": ...}`` (``email`` and ``name`` from ``customers``,
    null when unknown); ``survey_type`` is ``nps``; ``created_at`` and
    ``updated_at`` are epoch seconds.
    """
    seconds = pl.col("responded_at").dt.epoch("s")
    rows = _respondents(data).select(
        pl.col("response_id").alias("id"),
        pl.struct(pl.col("customer_id").alias("id"), "email", "name").alias("person"),
        pl.lit("nps").alias("survey_type"),
        pl.col("score"),
        pl.lit(None, dtype=pl.String).alias("comment"),
        seconds.alias("created_at"),
        seconds.alias("updated_at"),
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.collect().write_json(out)
    return out
