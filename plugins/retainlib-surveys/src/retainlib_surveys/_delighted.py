"""Source ``delighted``: Delighted's survey responses from its API (``GET /v1/survey_responses.json``).

The API gives a JSON array of survey responses (a file may also hold one
response, or JSON lines of them)::

    {"id": "1", "person": "7", "survey_type": "nps", "score": 9, "comment": null,
     "permalink": "...", "created_at": 1435272011, "updated_at": 1435272011,
     "person_properties": {}, "notes": [], "tags": [], "additional_answers": []}

``person`` is the person's id, or the person itself with ``expand[]=person``
(``{"id": "7", "email": "ann@example.com", "name": "Ann", ...}``).  Times are
whole seconds since 1970-01-01 UTC.  ``survey_type`` is ``nps``, ``csat``,
``ces``, ``5-star``, ``smileys``, ``thumbs`` or ``enps``; responses of older
accounts have none and are NPS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from retainlib.plugins import ReadResult
from retainlib.tables import TIMESTAMP
from retainlib_surveys import _common, _jsonfile
from retainlib_surveys._common import ROW, Anonymous, Prepared

__all__ = ["NAME", "OPTIONS", "PERSON_PREFIX", "is_json_export", "read"]

NAME = "delighted"
#: Customer id of a respondent known only by Delighted's person id (``delighted:<id>``).
PERSON_PREFIX = "delighted:"
#: Epoch seconds below this (10000-01-01 UTC) are times; larger ones are not.
_LAST_SECOND = 253_402_300_800
TIME_HINT = "not a time (expected whole seconds since 1970-01-01 UTC)"
OPTIONS = {
    "anonymous": "responses without a person: 'reject' (default) or 'keep' (each its own anonymous respondent, "
    "customer_id 'anonymous:<id>')",
}
_COLUMNS = ("_id", "_person", "_bad_person", "_mail", "_name", "_type", "_score", "_created")


def is_json_export(head: bytes) -> bool:
    """Whether JSON holds Delighted survey responses."""
    text_ = head.decode("utf-8", errors="replace")
    marks = ('"survey_type"', '"person"', '"score"', '"created_at"')
    return sum(mark in text_ for mark in marks) >= 3 and '"form_response"' not in text_


def _person(record: Mapping[str, Any]) -> tuple[str | None, str | None, str | None, str | None]:
    """The person's id, e-mail and name (the e-mail and name only when the person is expanded), and why not."""
    person = record.get("person")
    if isinstance(person, dict):
        return (
            _jsonfile.text_of(person, "id"),
            _jsonfile.text_of(person, "email"),
            _jsonfile.text_of(person, "name"),
            None,
        )
    if person is None or (isinstance(person, str | int) and not isinstance(person, bool)):
        return _jsonfile.as_text(person), None, None, None
    return None, None, None, "not a person (expected its id or the person object)"


def _frame(loaded: _jsonfile.JsonRecords) -> pl.DataFrame:
    lines: list[int] = []
    columns: dict[str, list[str | None]] = {k: [] for k in _COLUMNS}
    for line, record in loaded.records:
        person, mail, name, bad = _person(record)
        values = (
            _jsonfile.text_of(record, "id"),
            person,
            bad,
            mail,
            name,
            _jsonfile.text_of(record, "survey_type"),
            _jsonfile.text_of(record, "score"),
            _jsonfile.text_of(record, "created_at"),
        )
        lines.append(line)
        for key, value in zip(_COLUMNS, values, strict=True):
            columns[key].append(value)
    frame = pl.DataFrame({ROW: lines, **columns}, schema={ROW: pl.Int64, **dict.fromkeys(_COLUMNS, pl.String)})
    return frame.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in _COLUMNS)


def _emails(frames: Sequence[pl.DataFrame]) -> pl.LazyFrame:
    """Each person's e-mail, from the responses read with the person expanded (any file of the read)."""
    every = pl.concat([f.lazy().select("_person", "_mail") for f in frames])
    return (
        every.select("_person", _common.normal_email(pl.col("_mail")).alias("_known_mail"))
        .drop_nulls()
        .unique(subset="_person", keep="first", maintain_order=True)
    )


def _prepare(
    path: Path, frame: pl.DataFrame, emails: pl.LazyFrame, rejected: Sequence[tuple[int, str]], anonymous: Anonymous
) -> Prepared:
    lazy = frame.lazy().join(emails, on="_person", how="left", maintain_order="left")
    kind = pl.col("_type").str.to_lowercase()
    other_type = kind.is_not_null() & (kind != "nps")
    seconds_text = pl.col("_created").str.replace(r"^(\d+)\.0*$", "${1}")
    digits = seconds_text.str.contains(r"^\d{1,12}$")
    seconds = pl.when(digits).then(seconds_text.cast(pl.Int64, strict=False))
    in_range = seconds < _LAST_SECOND
    when = pl.when(in_range).then((seconds * 1_000_000).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
    email = pl.coalesce(_common.normal_email(pl.col("_mail")), pl.col("_known_mail"))
    person = pl.when(pl.col("_person").is_not_null()).then(pl.lit(PERSON_PREFIX) + pl.col("_person"))
    customer, known = _common.respondent(email, pl.col("_id"), person)
    checked = ~other_type
    planned = lazy.select(
        ROW,
        pl.col("_id").alias("response_id"),
        customer.alias("customer_id"),
        pl.coalesce(when, pl.lit(_common.PLACEHOLDER_TIME).dt.replace_time_zone("UTC"))
        .cast(TIMESTAMP)
        .alias("responded_at"),
        pl.when(checked).then(pl.col("_score")).otherwise(pl.lit("0")).alias("score"),
        email.alias("_email"),
        pl.col("_name"),
        known.alias("_known"),
        pl.when(other_type).then(pl.format("survey type {} is not NPS", pl.col("_type"))).alias("_why_type"),
        pl.when(checked)
        .then(
            pl.when(pl.col("_created").is_null()).then(pl.lit("missing")).when(when.is_null()).then(pl.lit(TIME_HINT))
        )
        .alias("_why_time"),
        pl.when(checked)
        .then(pl.coalesce(pl.col("_bad_person"), _common.anonymous_reason(known, anonymous, pl.lit(""), "missing")))
        .alias("_why_person"),
    )
    return Prepared(
        path=path,
        frame=planned,
        rules=(
            ("survey_type", "_why_type"),
            ("created_at", "_why_time"),
            ("person", "_why_person"),
        ),
        labels={"response_id": "id", "responded_at": "created_at", "customer_id": "person"},
        rejected=rejected,
    )


def _unwrap(document: Mapping[str, Any]) -> list[Any] | None:
    del document  # an object is one response
    return None


def read(paths: Sequence[Path], *, anonymous: str | None = None) -> ReadResult:
    """Read Delighted survey responses (API JSON) into ``responses`` and ``customers``."""
    _common.check_paths(paths, NAME)
    policy = _common.check_anonymous(anonymous)
    loaded = [_jsonfile.load(Path(p), unwrap=_unwrap) for p in paths]
    frames = [_frame(one) for one in loaded]
    emails = _emails(frames).collect().lazy()
    parts = [
        _common.conform_file(_prepare(one.path, frame, emails, one.rejected, policy))
        for one, frame in zip(loaded, frames, strict=True)
    ]
    return _common.assemble(NAME, parts)
