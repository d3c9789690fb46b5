"""retainlib source ``zendesk``: Zendesk tickets (CSV export, API JSON, incremental exports) -> tickets, customers.

What it reads (each file recognised by its content, whatever its name):

* the admin **tickets CSV export** (columns matched by name: ``Id``,
  ``Requester id``, ``Requester email``, ``Status``, ``Created at``,
  ``Updated at``, ``Solved at``, ``Satisfaction Score``, ``Tags``...);
* **API JSON**: ``{"tickets": [...]}`` (list and incremental exports, with
  the ``metric_sets`` and ``users`` side-loads of ``include=metric_sets,users``),
  ``{"ticket": {...}}``, ``ticket_metric(s)``, ``satisfaction_rating(s)`` and
  ``user(s)`` responses, bare objects and arrays of them;
* **JSON lines**: one ticket (or one API page) per line, as incremental
  exports are saved.

Files of one read are read together: ticket metrics, satisfaction ratings and
users from any of them complete the tickets of the others.  Every record is
loaded or rejected with its file, line and reason (rows read = loaded +
rejected).  ``docs/sources/zendesk.md`` states every policy and option.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from retainlib import Dataset
from retainlib.errors import OptionError, SourceError
from retainlib.load_report import LoadReport
from retainlib.plugins import ReadResult, Source, hookimpl, progress
from retainlib_support._csv import header, is_tickets_export, read_csv
from retainlib_support._frames import METRIC_SCHEMA, RATING_SCHEMA, TICKET_SCHEMA, USER_SCHEMA
from retainlib_support._json import read_json
from retainlib_support._options import OPTIONS, Options
from retainlib_support._tickets import assemble

__all__ = ["CONFIDENT", "LIKELY", "NAME", "OPTIONS", "Options", "detect", "read", "retainlib_sources"]

#: The source's name.
NAME = "zendesk"
#: Score of a file that is certainly a Zendesk export (its API's URLs, the CSV export's header).
CONFIDENT = 90
#: Score of JSON shaped like Zendesk's objects (a ticket's requester, a metric set, a rating) without its URLs.
LIKELY = 80
_HEAD_BYTES = 64 * 1024
_API_URL = re.compile(r"zendesk\.com\\?/api\\?/v2\\?/")
_SHAPES = (
    re.compile(r'"requester_id"\s*:.*"(satisfaction_rating|submitter_id|via)"\s*:', re.S),
    re.compile(r'"(satisfaction_rating|submitter_id|via)"\s*:.*"requester_id"\s*:', re.S),
    re.compile(r'"(metric_sets|ticket_metrics)"\s*:\s*\[|"ticket_metric"\s*:\s*\{'),
    re.compile(r'"ticket_id"\s*:.*"(reply_time_in_minutes|full_resolution_time_in_minutes|reopens)"\s*:', re.S),
    re.compile(r'"score"\s*:\s*"(good|bad|offered|unoffered)"'),
)


def _text(head: bytes) -> str:
    return head.decode("utf-8", errors="replace").removeprefix("\ufeff").lstrip()


def _is_json(head: bytes) -> bool:
    return _text(head)[:1] in ("{", "[")


def detect(path: Path, head: bytes) -> int:
    """Score a file for the ``zendesk`` source: :data:`CONFIDENT` or :data:`LIKELY` for Zendesk exports, else 0.

    JSON is recognised by the API's URLs or by the fields of Zendesk's tickets,
    ticket metrics and satisfaction ratings; CSV by the tickets export's header.
    Canonical files (``ticket_id,customer_id,opened_at,...``) score 0.
    """
    del path  # recognised by content
    if _is_json(head):
        text = _text(head)
        if _API_URL.search(text):
            return CONFIDENT
        return LIKELY if any(shape.search(text) for shape in _SHAPES) else 0
    return CONFIDENT if is_tickets_export(header(head)) else 0


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(_HEAD_BYTES)
    except OSError as exc:
        raise SourceError(f"cannot open: {exc.strerror or exc}", file=path, source=NAME) from None


def read(
    paths: Sequence[Path],
    *,
    tz: str | None = None,
    solve_time: str | None = None,
    separator: str | None = None,
    encoding: str | None = None,
) -> ReadResult:
    """Read Zendesk exports into ``tickets`` and ``customers`` (the requesters).

    Options (strings; ``None`` is the default) are described in :data:`OPTIONS`
    and ``docs/sources/zendesk.md``.  Every file is read before the tickets are
    built, so that metrics, ratings and users complete tickets of other files.
    """
    if not paths:
        raise OptionError("the zendesk source needs at least one file", option="paths", value=list(paths))
    options = Options.of(tz=tz, solve_time=solve_time, separator=separator, encoding=encoding)
    files = [Path(p) for p in paths]
    tickets: list[pl.DataFrame] = [pl.DataFrame(schema=TICKET_SCHEMA)]
    metrics: list[pl.DataFrame] = [pl.DataFrame(schema=METRIC_SCHEMA)]
    ratings: list[pl.DataFrame] = [pl.DataFrame(schema=RATING_SCHEMA)]
    users: list[pl.DataFrame] = [pl.DataFrame(schema=USER_SCHEMA)]
    for path in files:
        head = _head(path)
        if not head.strip():
            raise SourceError("the file is empty", file=path, source=NAME)
        if _is_json(head):
            found = read_json(path)
            tickets.append(found.tickets)
            metrics.append(found.metrics)
            ratings.append(found.ratings)
            users.append(found.users)
        else:
            tickets.append(read_csv(path, options))
    built = assemble(files, pl.concat(tickets), pl.concat(metrics), pl.concat(ratings), pl.concat(users), options)
    rows: dict[str, int] = {}
    for load in built.loads:
        rows[load.file] = rows.get(load.file, 0) + load.rows_read
    for file, count in rows.items():
        progress(Path(file), count)
    dataset = Dataset(tickets=built.tickets, customers=built.customers, validate="none", source=NAME)
    return ReadResult(dataset=dataset, report=LoadReport(source=NAME, files=tuple(built.loads)))


@hookimpl
def retainlib_sources() -> Iterable[Source]:
    """The ``zendesk`` source."""
    yield Source(
        name=NAME,
        description="Zendesk: tickets CSV export, API JSON and incremental exports (tickets with their metrics, "
        "satisfaction ratings and requesters)",
        kinds=("csv", "json", "jsonl"),
        reader=read,
        detector=detect,
        options=OPTIONS,
    )
