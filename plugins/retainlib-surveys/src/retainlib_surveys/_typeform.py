"""Source ``typeform``: Typeform's responses CSV download, and its Responses API and webhook JSON.

CSV: ``#`` (the response's token), one column per question (titled by the
question) and per hidden field (titled by its name), then ``Response Type``
(``completed`` / ``partial``; older downloads lack it and hold completed
responses only), ``Start Date (UTC)``, ``Stage Date (UTC)``, ``Submit Date
(UTC)``, ``Network ID`` and ``Tags``; dates ``2024-10-05 02:39:31`` in UTC.

JSON: a Responses API page (``{"total_items", "page_count", "items": [...]}``),
an array of its items, webhook payloads (``{"event_type": "form_response",
"form_response": {...}}``, one, an array of them, or JSON lines), or JSON
lines of items.  A response has ``token`` (also ``response_id``),
``submitted_at`` (ISO 8601, UTC), ``landed_at``, ``hidden`` (hidden fields),
``answers`` (``{"field": {"id", "type", "ref"}, "type": "number", "number":
9}``...) and, in newer API pages, ``response_type``.

The NPS answer is the answer to the form's ``nps`` field, or to the field (an
``nps`` or ``opinion_scale`` one) that the ``question`` option names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import polars as pl

from retainlib.errors import OptionError, SourceError
from retainlib.plugins import ReadResult
from retainlib.tables import TIMESTAMP
from retainlib_surveys import _common, _csvfile, _jsonfile
from retainlib_surveys._common import ROW, Anonymous, Prepared
from retainlib_surveys._csvfile import column, text

__all__ = ["CSV_COLUMNS", "EMAIL_COLUMNS", "NAME", "OPTIONS", "is_header", "is_json_export", "read"]

NAME = "typeform"
#: The CSV's columns that are not questions (or hidden fields).
CSV_COLUMNS = (
    "#",
    "Response Type",
    "Start Date (UTC)",
    "Stage Date (UTC)",
    "Submit Date (UTC)",
    "Network ID",
    "Tags",
)
#: Column names (hidden fields) read as the respondent's e-mail when the ``email`` option names none.
EMAIL_COLUMNS = ("email", "e-mail", "email address", "e-mail address", "email_address")
DATE_HINT = "not a date (expected YYYY-MM-DD hh:mm:ss, UTC)"
OPTIONS = {
    "question": "the NPS question: its column's title (CSV) or its field's id, ref or title (JSON); needed to read "
    "an opinion_scale field, which may not run 0..10 (default: the form's nps field; in a CSV the only question "
    "worded 'How likely ... recommend')",
    "partial": "partial responses (not submitted): 'reject' (default) or 'keep'",
    "email": "where the respondent's e-mail is: a hidden field's name or an e-mail field's ref/id (JSON), a "
    "column's title (CSV) (default: the hidden field 'email', else the form's e-mail answer)",
    "anonymous": "responses without an e-mail: 'reject' (default) or 'keep' (each its own anonymous respondent, "
    "customer_id 'anonymous:<token>')",
    "encoding": "CSV text encoding (default UTF-8, or UTF-16 when the file starts with its byte-order mark)",
}
Partial = Literal["reject", "keep"]
#: A response's ``response_type`` of a submitted one; any other known one is partial.
_COMPLETED = "completed"
_PARTIAL_TYPES = ("partial", "started")
#: The time an unsubmitted response has as ``submitted_at`` in older API pages.
_NEVER = "0001-01-01"
_PLACEHOLDER_TEXT = "1970-01-01T00:00:00Z"


def is_header(cells: Sequence[str]) -> bool:
    """Whether a first line is a Typeform CSV's: ``#`` first, and one of its date columns."""
    return bool(cells) and cells[0] == "#" and any(c in cells for c in CSV_COLUMNS[1:6])


def is_json_export(head: bytes) -> bool:
    """Whether JSON holds Typeform responses (API items or webhook payloads)."""
    text_ = head.decode("utf-8", errors="replace")
    if '"form_response"' in text_:
        return True
    return '"answers"' in text_ and ('"landed_at"' in text_ or '"landing_id"' in text_ or '"submitted_at"' in text_)


def check_partial(value: object) -> Partial:
    """The ``partial`` option."""
    if value is None:
        return "reject"
    choice = value.strip().lower() if isinstance(value, str) else value
    return OptionError.one_of(
        choice, ("reject", "keep"), option="partial", message=f"partial is 'reject' or 'keep', got {value!r}"
    )


# --- what CSV and JSON share ---------------------------------------------------------------------


def _plan(
    frame: pl.LazyFrame,
    *,
    partial: Partial,
    anonymous: Anonymous,
    when: Callable[[pl.Expr], pl.Expr] | None,
) -> pl.LazyFrame:
    """The canonical columns and the rules from the text columns ``_id``, ``_type``, ``_submit``, ``_later``,
    ``_answer``, ``_answer_why`` and ``_mail``.

    ``when`` parses the time text (CSV); ``None`` leaves it to conforming (ISO 8601 in JSON).
    """
    # Each value is computed once, into a column, in stages: the later stages read the earlier columns.
    kind = pl.col("_type").str.strip_chars().str.to_lowercase()
    unsubmitted = pl.col("_submit").is_null() | pl.col("_submit").str.starts_with(_NEVER)
    answer = pl.col("_answer").str.strip_chars()
    stage1 = frame.with_columns(
        (kind.is_null() | (kind == _COMPLETED) | kind.is_in(list(_PARTIAL_TYPES))).alias("_known_kind"),
        (kind.is_in(list(_PARTIAL_TYPES)).fill_null(False) | (kind.is_null() & unsubmitted)).alias("_partial"),
        pl.when(~unsubmitted).then(pl.col("_submit")).alias("_submitted"),
        pl.when(answer != "").then(answer).alias("_answer"),
        _common.normal_email(pl.col("_mail")).alias("_email"),
    )
    is_partial, known_kind = pl.col("_partial"), pl.col("_known_kind")
    raw_time = pl.when(is_partial).then(pl.coalesce("_submitted", "_later")).otherwise(pl.col("_submitted"))
    customer, known = _common.respondent(pl.col("_email"), pl.col("_id"))
    stage2 = stage1.with_columns(
        raw_time.alias("_raw_time"),
        (~known_kind | (is_partial & pl.lit(partial == "reject"))).alias("_skipped"),
        customer.alias("customer_id"),
        known.alias("_known"),
    )
    raw = pl.col("_raw_time")
    if when is None:
        stage3 = stage2.with_columns(raw.alias("_time"))
        time_why: pl.Expr = pl.when(raw.is_null()).then(pl.lit("missing"))
        placeholder = pl.lit(_PLACEHOLDER_TEXT)
    else:
        stage3 = stage2.with_columns(when(raw).alias("_time"))
        time_why = (
            pl.when(raw.is_null()).then(pl.lit("missing")).when(pl.col("_time").is_null()).then(pl.lit(DATE_HINT))
        )
        placeholder = pl.lit(_common.PLACEHOLDER_TIME).dt.replace_time_zone("UTC").cast(TIMESTAMP)
    partial_why = (
        pl.when(~known_kind)
        .then(pl.lit("unknown response type (expected completed or partial)"))
        .when(is_partial & pl.lit(partial == "reject"))
        .then(pl.lit("a partial response, never submitted (partial='keep' keeps it)"))
    )
    checked, answered = ~pl.col("_skipped"), pl.col("_answer")
    return stage3.select(
        ROW,
        pl.col("_id").alias("response_id"),
        "customer_id",
        pl.coalesce(pl.col("_time"), placeholder).alias("responded_at"),
        pl.when(answered.is_null() | pl.col("_answer_why").is_not_null())
        .then(pl.lit("0"))
        .otherwise(answered)
        .alias("score"),
        "_email",
        pl.lit(None, dtype=pl.String).alias("_name"),
        "_known",
        partial_why.alias("_why_type"),
        pl.when(checked).then(time_why).alias("_why_date"),
        pl.when(checked).then(pl.col("_answer_why")).alias("_why_answers"),
        pl.when(checked & pl.col("_answer_why").is_null() & answered.is_null())
        .then(pl.lit("no answer to the NPS question"))
        .alias("_why_score"),
        pl.when(checked)
        .then(_common.anonymous_reason(pl.col("_known"), anonymous, pl.col("_mail").fill_null(""), "no e-mail address"))
        .alias("_why_email"),
    )


# --- CSV -------------------------------------------------------------------------------------------


def _csv_date(raw: pl.Expr) -> pl.Expr:
    normal = raw.str.replace(r"^(\d{4}-\d\d-\d\d)T", "${1} ").str.replace(r"(?i)\s*(z|utc)$", "")
    parsed = pl.coalesce(
        normal.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us"),
        normal.str.to_datetime("%Y-%m-%d %H:%M", strict=False, time_unit="us"),
    )
    return _common.utc(parsed)


def _csv_columns(
    header: tuple[tuple[str, ...], ...], path: Path, question: str | None, email: str | None
) -> dict[str, int]:
    names = [cell.strip() for cell in header[0]]
    if "Submit Date (UTC)" not in names:
        raise SourceError("no 'Submit Date (UTC)' column: download the responses as CSV", file=path, source=NAME)
    found = {"id": 0, "submit": names.index("Submit Date (UTC)")}
    for key, label in (("type", "Response Type"), ("stage", "Stage Date (UTC)"), ("start", "Start Date (UTC)")):
        if label in names:
            found[key] = names.index(label)
    folded = [" ".join(n.split()).casefold() for n in names]
    if email is not None:
        wanted = " ".join(email.split()).casefold()
        if wanted not in folded:
            raise SourceError(f"email={email!r}: no column has that title", file=path, source=NAME)
        found["email"] = folded.index(wanted)
    else:
        mail = next((i for i, n in enumerate(folded) if n in EMAIL_COLUMNS), None)
        if mail is not None:
            found["email"] = mail
    titles = {i: cell for i, cell in enumerate(header[0]) if cell.strip() and cell.strip() not in CSV_COLUMNS}
    found["score"] = _common.find_question(titles, question, path=path, source=NAME)
    return found


def _prepare_csv(
    path: Path, head: bytes, *, question: str | None, email: str | None, options: tuple[Partial, Anonymous, str | None]
) -> Prepared:
    partial, anonymous, encoding = options
    sniffed = _csvfile.sniff(head, is_header, encoding=encoding)
    if sniffed is None:
        raise SourceError(
            "not a Typeform export: a CSV download starts '#,' and has 'Submit Date (UTC)'; API and webhook "
            "responses are JSON",
            file=path,
            source=NAME,
        )
    enc, separator = sniffed
    positions: dict[str, int] = {}

    def wanted(header: tuple[tuple[str, ...], ...]) -> list[int]:
        positions.update(_csv_columns(header, path, question, email))
        return list(positions.values())

    records = _csvfile.read_records(path, rows=1, separator=separator, encoding=enc, wanted=wanted)

    def col(key: str) -> pl.Expr:
        return text(column(positions[key]) if key in positions else None)

    frame = records.frame.lazy().select(
        ROW,
        col("id").alias("_id"),
        col("type").alias("_type"),
        col("submit").alias("_submit"),
        pl.coalesce(col("stage"), col("start")).alias("_later"),
        col("score").alias("_answer"),
        pl.lit(None, dtype=pl.String).alias("_answer_why"),
        col("email").alias("_mail"),
    )
    email_label = records.header[0][positions["email"]].strip() if "email" in positions else "email"
    type_label = "Response Type" if "type" in positions else "Submit Date (UTC)"
    return Prepared(
        path=path,
        frame=_plan(frame, partial=partial, anonymous=anonymous, when=_csv_date),
        rules=(
            (type_label, "_why_type"),
            ("Submit Date (UTC)", "_why_date"),
            ("answers", "_why_answers"),
            ("score", "_why_score"),
            (email_label, "_why_email"),
        ),
        labels={"response_id": "#", "responded_at": "Submit Date (UTC)", "customer_id": email_label},
        rejected=records.rejected,
    )


# --- JSON ------------------------------------------------------------------------------------------


def _unwrap(document: Mapping[str, Any]) -> list[Any] | None:
    """An API page's items; ``None`` for a response or a webhook payload (one record)."""
    items = document.get("items")
    return items if isinstance(items, list) and "form_response" not in document else None


def _fold(value: object) -> str:
    return " ".join(value.split()).casefold() if isinstance(value, str) else ""


def _answers(response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    answers = response.get("answers")
    return [a for a in answers if isinstance(a, dict)] if isinstance(answers, list) else []


def _field(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    field = answer.get("field")
    return field if isinstance(field, dict) else {}


def _titles(response: Mapping[str, Any]) -> dict[str, str]:
    """Field id -> title, from a webhook's ``definition``."""
    definition = response.get("definition")
    fields = definition.get("fields") if isinstance(definition, dict) else None
    if not isinstance(fields, list):
        return {}
    return {
        str(f["id"]): f["title"]
        for f in fields
        if isinstance(f, dict) and "id" in f and isinstance(f.get("title"), str)
    }


def _nps_answer(response: Mapping[str, Any], question: str | None) -> tuple[str | None, str | None]:
    """The NPS answer's text and, when there is no single one, why."""
    answers = _answers(response)
    if question is None:
        chosen = [a for a in answers if _field(a).get("type") == "nps"]
        missing = "no answer to an nps field (an opinion_scale question needs question=)"
    else:
        wanted = _fold(question)
        titles = _titles(response)

        def names(a: Mapping[str, Any]) -> list[str]:
            f = _field(a)
            return [_fold(f.get("id")), _fold(f.get("ref")), _fold(titles.get(str(f.get("id"))))]

        chosen = [a for a in answers if wanted in names(a)]
        missing = f"no answer to the field {question!r}"
    if not chosen:
        return None, missing if answers or question is not None else "no answers"
    if len(chosen) > 1:
        ids = ", ".join(sorted({str(_field(a).get("id")) for a in chosen}))
        return None, f"several NPS fields answered ({ids}): pass question= with the field's id or ref"
    answer = chosen[0]
    kind = answer.get("type")
    value = answer.get(kind) if isinstance(kind, str) and kind in answer else answer.get("number")
    if value is None:
        return None, "the NPS answer holds no number"
    return _jsonfile.as_text(value), None


def _email(response: Mapping[str, Any], email: str | None) -> str | None:
    hidden = response.get("hidden")
    hidden = hidden if isinstance(hidden, dict) else {}
    wanted = _fold(email) if email is not None else "email"
    for key, value in hidden.items():
        if _fold(key) == wanted and value is not None:
            return _jsonfile.as_text(value)
    for answer in _answers(response):
        f = _field(answer)
        named = email is not None and wanted in (_fold(f.get("id")), _fold(f.get("ref")))
        if named or (email is None and answer.get("type") == "email"):
            return _jsonfile.as_text(answer.get("email", answer.get("text")))
    return None


def _prepare_json(
    path: Path, *, question: str | None, email: str | None, options: tuple[Partial, Anonymous, str | None]
) -> Prepared:
    partial, anonymous, _ = options
    loaded = _jsonfile.load(path, unwrap=_unwrap)
    lines: list[int] = []
    columns: dict[str, list[str | None]] = {
        k: [] for k in ("_id", "_type", "_submit", "_later", "_answer", "_answer_why", "_mail")
    }
    refused = list(loaded.rejected)
    for line, record in loaded.records:
        inner = record.get("form_response")
        response: Mapping[str, Any] = inner if isinstance(inner, dict) else record
        if isinstance(response.get("items"), list):
            refused.append((line, "an API page on one line: save each page as its own file"))
            continue
        answer, why = _nps_answer(response, question)
        lines.append(line)
        columns["_id"].append(_jsonfile.text_of(response, "token", "response_id"))
        columns["_type"].append(_jsonfile.text_of(response, "response_type"))
        columns["_submit"].append(_jsonfile.text_of(response, "submitted_at"))
        columns["_later"].append(_jsonfile.text_of(response, "landed_at"))
        columns["_answer"].append(answer)
        columns["_answer_why"].append(why)
        columns["_mail"].append(_email(response, email))
    frame = (
        pl.DataFrame({ROW: lines, **columns}, schema={ROW: pl.Int64, **dict.fromkeys(columns, pl.String)})
        .lazy()
        .with_columns(
            pl.col(c).str.strip_chars().replace("", None) for c in ("_id", "_type", "_submit", "_later", "_mail")
        )
    )
    return Prepared(
        path=path,
        frame=_plan(frame, partial=partial, anonymous=anonymous, when=None),
        rules=(
            ("response_type", "_why_type"),
            ("submitted_at", "_why_date"),
            ("answers", "_why_answers"),
            ("score", "_why_score"),
            ("email", "_why_email"),
        ),
        labels={"response_id": "token", "responded_at": "submitted_at", "customer_id": "email"},
        rejected=sorted(refused),
    )


# --- the reader ---------------------------------------------------------------------------------------


def read(
    paths: Sequence[Path],
    *,
    question: str | None = None,
    partial: str | None = None,
    email: str | None = None,
    anonymous: str | None = None,
    encoding: str | None = None,
) -> ReadResult:
    """Read Typeform CSV downloads and API/webhook JSON into ``responses`` and ``customers``."""
    _common.check_paths(paths, NAME)
    question_text = _common.check_name(question, "question", "NPS question (a title, or a field's id or ref)")
    email_name = _common.check_name(email, "email", "e-mail's hidden field, field or column")
    options = (check_partial(partial), _common.check_anonymous(anonymous), _common.check_encoding(encoding))
    parts = []
    for p in map(Path, paths):
        with p.open("rb") as f:
            head = f.read(64 * 1024)
        if not head.strip():
            raise SourceError("the file is empty", file=p, source=NAME)
        if _jsonfile.is_json(head):
            prepared = _prepare_json(p, question=question_text, email=email_name, options=options)
        else:
            prepared = _prepare_csv(p, head, question=question_text, email=email_name, options=options)
        # Typeform's times are UTC; an API time without its 'Z' is read as UTC too.
        parts.append(_common.conform_file(prepared, tz="UTC"))
    return _common.assemble(NAME, parts)
