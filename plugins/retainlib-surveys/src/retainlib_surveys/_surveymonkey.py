"""Source ``surveymonkey``: SurveyMonkey's "All individual responses" CSV export.

The export has two header lines: the first names the respondent columns
(``Respondent ID, Collector ID, Start Date, End Date, IP Address, Email
Address, First Name, Last Name, Custom Data 1``) then each question's text,
a question with several columns leaving the cells after its first blank; the
second holds sub-labels (``Response``, ``Open-Ended Response``, an option's
name) and is blank under the respondent columns.  A condensed export may lack
it: the second line is the sub-label line when its respondent columns are all
blank (a respondent's line has at least its id).

Read: ``Respondent ID`` (the response's id), ``End Date`` (when it was
answered, a local time read in the ``tz`` option's zone), the NPS question's
answer (a number 0..10 or a label ``10 - Extremely likely``) and the
respondent's e-mail (``Email Address``, or the column named by ``email``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from retainlib.errors import SourceError
from retainlib.plugins import ReadResult
from retainlib_surveys import _common, _csvfile
from retainlib_surveys._common import ROW, Anonymous, Prepared
from retainlib_surveys._csvfile import column, text

__all__ = ["DATE_FORMATS", "METADATA", "NAME", "OPTIONS", "is_header", "read", "score_text"]

NAME = "surveymonkey"
#: The respondent columns of the export (all but ``Respondent ID`` optional).
METADATA = (
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
#: Formats of ``End Date``: the export's ``MM/DD/YYYY hh:mm:ss AM/PM``, then the forms a spreadsheet re-saves.
DATE_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
)
DATE_HINT = "not a date (expected MM/DD/YYYY hh:mm:ss AM/PM)"
OPTIONS = {
    "tz": "required: the time zone of the export's dates (the survey account's zone), an IANA name such as "
    "'America/New_York' or 'UTC'",
    "question": "the text of the NPS question's column (default: the only question worded 'How likely ... recommend')",
    "email": "the column holding the respondent's e-mail, by its header text or sub-label (default 'Email Address')",
    "anonymous": "responses without an e-mail: 'reject' (default) or 'keep' (each its own anonymous respondent, "
    "customer_id 'anonymous:<Respondent ID>')",
    "encoding": "text encoding (default UTF-8, or UTF-16 when the file starts with its byte-order mark)",
}
#: Answers written as the scale's end labels alone.
_END_LABELS = {"not at all likely": "0", "extremely likely": "10"}


def is_header(cells: Sequence[str]) -> bool:
    """Whether a first line is a SurveyMonkey export's: ``Respondent ID`` first, then its respondent columns."""
    return bool(cells) and cells[0] == "Respondent ID" and any(c in cells for c in METADATA[1:4])


def _is_sublabels(records: Sequence[tuple[str, ...]]) -> int:
    """2 when the second line is the sub-label line (blank under every respondent column), else 1."""
    if len(records) < 2:
        return len(records)
    first, second = records[0], records[1]
    positions = [i for i, name in enumerate(first) if name.strip() in METADATA]
    blank = all(i >= len(second) or not second[i].strip() for i in positions)
    return 2 if blank else 1


def score_text(raw: pl.Expr) -> pl.Expr:
    """The answer as a number's text: ``10 - Extremely likely`` -> ``10``; other text as it is (checked later)."""
    s = raw.str.strip_chars()
    leading = s.str.extract(r"^(\d{1,2})\s*[-–—:]\s*\S", 1)
    trailing = s.str.extract(r"\S\s*[-–—:]\s*(\d{1,2})$", 1)
    folded = s.str.to_lowercase().str.replace_all(r"\s+", " ")
    ends = folded.replace_strict(_END_LABELS, default=None, return_dtype=pl.String)
    return pl.coalesce(leading, trailing, ends, s)


def _find(header: tuple[tuple[str, ...], ...], name: str, path: Path, option: bool) -> int | None:
    """The column whose header text (else, for an option, whose sub-label) is ``name``."""
    folded = " ".join(name.split()).casefold()
    top = [i for i, cell in enumerate(header[0]) if " ".join(cell.split()).casefold() == folded]
    if top or not option:
        return top[0] if top else None
    under = (
        [i for i, cell in enumerate(header[1]) if " ".join(cell.split()).casefold() == folded]
        if len(header) > 1
        else []
    )
    if len(under) == 1:
        return under[0]
    problem = "several columns have that sub-label" if under else "no column has that header or sub-label"
    raise SourceError(f"email={name!r}: {problem}", file=path, source=NAME)


def _label(header: tuple[tuple[str, ...], ...], position: int | None) -> str:
    """How the reasons name the e-mail column: its header text, else its sub-label (``Email Address`` when absent)."""
    if position is None:
        return "Email Address"
    for line in header:
        if position < len(line) and line[position].strip():
            return line[position].strip()
    return "Email Address"


def _columns(
    header: tuple[tuple[str, ...], ...], path: Path, question: str | None, email: str | None
) -> dict[str, int]:
    """The positions of the columns read."""
    names = [cell.strip() for cell in header[0]]
    found: dict[str, int] = {"id": 0}
    if "End Date" not in names:
        raise SourceError(
            "no 'End Date' column: export the responses with their respondent columns (Respondent ID ... End Date)",
            file=path,
            source=NAME,
        )
    found["end"] = names.index("End Date")
    mail = _find(header, email, path, option=True) if email is not None else _find(header, "Email Address", path, False)
    if mail is not None:
        found["email"] = mail
    for key, label in (("first", "First Name"), ("last", "Last Name")):
        if label in names:
            found[key] = names.index(label)
    titles = {i: cell for i, cell in enumerate(header[0]) if cell.strip() and cell.strip() not in METADATA}
    found["score"] = _common.find_question(titles, question, path=path, source=NAME)
    return found


def _prepare(
    path: Path, *, question: str | None, email: str | None, anonymous: Anonymous, encoding: str | None
) -> Prepared:
    with path.open("rb") as f:
        head = f.read(64 * 1024)
    if not head.strip():
        raise SourceError("the file is empty", file=path, source=NAME)
    sniffed = _csvfile.sniff(head, is_header, encoding=encoding)
    if sniffed is None:
        raise SourceError(
            "not a SurveyMonkey export: its first line should start 'Respondent ID,Collector ID,Start Date,End Date,'",
            file=path,
            source=NAME,
        )
    enc, separator = sniffed
    positions: dict[str, int] = {}

    def wanted(header: tuple[tuple[str, ...], ...]) -> list[int]:
        positions.update(_columns(header, path, question, email))
        return list(positions.values())

    records = _csvfile.read_records(path, rows=_is_sublabels, separator=separator, encoding=enc, wanted=wanted)

    def col(key: str) -> pl.Expr:
        return text(column(positions[key]) if key in positions else None)

    # Each value is computed once, into a column, in stages; the export's own date format is tried first, the
    # others only on the dates it does not parse.
    first, *others = DATE_FORMATS
    staged = (
        records.frame.lazy()
        .select(
            ROW,
            col("id").alias("response_id"),
            col("end").alias("_end"),
            score_text(col("score")).alias("_answer"),
            col("email").fill_null("").alias("_raw_email"),
            _common.normal_email(col("email")).alias("_email"),
            pl.concat_str([col("first"), col("last")], separator=" ", ignore_nulls=True).alias("_name"),
        )
        .with_columns(pl.col("_end").str.to_datetime(first, strict=False, time_unit="us").alias("_time"))
    )
    rest = pl.when(pl.col("_time").is_null()).then(pl.col("_end"))
    staged = staged.with_columns(
        pl.coalesce("_time", *(rest.str.to_datetime(f, strict=False, time_unit="us") for f in others)).alias("_time")
    )
    customer, known = _common.respondent(pl.col("_email"), pl.col("response_id"))
    staged = staged.with_columns(customer.alias("customer_id"), known.alias("_known"))
    answer, parsed = pl.col("_answer"), pl.col("_time")
    frame = staged.select(
        ROW,
        "response_id",
        "customer_id",
        pl.coalesce(parsed, pl.lit(_common.PLACEHOLDER_TIME)).alias("responded_at"),
        pl.when(answer.is_null()).then(pl.lit("0")).otherwise(answer).alias("score"),
        "_email",
        pl.when(pl.col("_name") != "").then(pl.col("_name")).alias("_name"),
        "_known",
        pl.when(pl.col("_end").is_null())
        .then(pl.lit("missing"))
        .when(parsed.is_null())
        .then(pl.lit(DATE_HINT))
        .alias("_why_date"),
        pl.when(answer.is_null()).then(pl.lit("no answer to the NPS question")).alias("_why_score"),
        _common.anonymous_reason(pl.col("_known"), anonymous, pl.col("_raw_email"), "no e-mail address").alias(
            "_why_email"
        ),
    )
    email_label = _label(records.header, positions.get("email"))
    return Prepared(
        path=path,
        frame=frame,
        rules=(
            ("End Date", "_why_date"),
            ("score", "_why_score"),
            (email_label, "_why_email"),
        ),
        labels={"response_id": "Respondent ID", "responded_at": "End Date", "customer_id": email_label},
        rejected=records.rejected,
    )


def read(
    paths: Sequence[Path],
    *,
    tz: str | None = None,
    question: str | None = None,
    email: str | None = None,
    anonymous: str | None = None,
    encoding: str | None = None,
) -> ReadResult:
    """Read SurveyMonkey CSV exports into ``responses`` and ``customers`` (see ``docs/sources/surveys.md``)."""
    _common.check_paths(paths, NAME)
    zone = _common.check_tz_option(tz, "SurveyMonkey", "America/New_York")
    question_text = _common.check_name(question, "question", "NPS question's text")
    email_column = _common.check_name(email, "email", "e-mail column's header")
    policy = _common.check_anonymous(anonymous)
    codec = _common.check_encoding(encoding)
    parts = [
        _common.conform_file(
            _prepare(Path(p), question=question_text, email=email_column, anonymous=policy, encoding=codec), tz=zone
        )
        for p in paths
    ]
    return _common.assemble(NAME, parts)
