"""A Dataset's tickets written as Zendesk exports: the admin CSV export, JSON lines, incremental API pages.

Each writer takes the canonical ``tickets`` table and, when given, the
``customers`` table for each requester's e-mail and name, and writes files in
Zendesk's formats, so that demos, docs and benchmarks read real-looking files
through the ``zendesk`` source (plugin ``retainlib-support``).  Reading the
files back with that source gives the same tickets: ids, requesters,
instants to the second (Zendesk writes no fraction), solve times and
ratings; and the requesters as customers with their e-mails.

* :func:`write_tickets_csv`: the admin's tickets CSV export
  (``tickets_export.csv``) with the export's columns (:data:`CSV_HEADER`),
  times in the zone ``tz`` with their offset (``2024-03-01 10:00:00 -0500``);
* :func:`write_tickets_jsonl`: JSON lines, one API ticket per line with its
  ``metric_set`` (``tickets.jsonl``), and one requester per line
  (``users.jsonl``), as incremental exports are saved;
* :func:`write_incremental_export`: time-based incremental export pages
  (``tickets_0001.json``...): ``{"tickets": [...], "metric_sets": [...],
  "users": [...], "count", "end_time", "next_page", "end_of_stream"}``, the
  response of ``/api/v2/incremental/tickets.json?include=metric_sets,users``.

What a ticket looks like: ``status`` ``solved`` when it has a ``solved_at``,
else ``open``; its satisfaction ``good`` or ``bad``, and when unrated
``offered`` (solved) or ``unoffered`` (not solved), which the source reads as
no rating; ``updated_at`` its last event (the solve, else the opening).  Ids
made only of digits are written as JSON numbers, as Zendesk writes them;
others as strings.

Everything is polars expressions (no Python object per ticket); the pages are
assembled as text, one string per page.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from retainlib._dataset import Dataset
from retainlib._exports import _common
from retainlib.calendar import check_tz
from retainlib.errors import OptionError
from retainlib.tables import TIMESTAMP

__all__ = ["CSV_HEADER", "write_incremental_export", "write_tickets_csv", "write_tickets_jsonl"]

#: The admin tickets CSV export's header (as tools reproducing the export write it).
CSV_HEADER: tuple[str, ...] = (
    "Summation column", "Id", "Requester", "Requester id", "Requester external id", "Requester email",
    "Requester domain", "Submitter", "Assignee", "Group", "Subject", "Tags", "Status", "Priority", "Via",
    "Ticket type", "Created at", "Updated at", "Assigned at", "Organization", "Due date", "Initially assigned at",
    "Solved at", "Resolution time", "Satisfaction Score", "Group stations", "Assignee stations", "Reopens",
    "Replies", "First reply time in minutes", "First reply time in minutes within business hours",
    "First resolution time in minutes", "First resolution time in minutes within business hours",
    "Full resolution time in minutes", "Full resolution time in minutes within business hours",
    "Agent wait time in minutes", "Agent wait time in minutes within business hours",
    "Requester wait time in minutes", "Requester wait time in minutes within business hours",
    "On hold time in minutes", "On hold time in minutes within business hours",
)  # fmt: skip

FrameLike = _common.FrameLike
Tables = _common.Tables

_API_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_CSV_FORMAT = "%Y-%m-%d %H:%M:%S %z"
#: An id written as a JSON number: digits without a leading zero, small enough for any JSON reader.
_NUMERIC_ID = r"^[1-9][0-9]{0,14}$"
_UPDATED = "_updated"


def _tickets(data: Tables) -> pl.DataFrame:
    """The tickets with their requester's e-mail and name, oldest update first, instants to the second."""
    tickets = _common.table(data, "tickets", required=True, every_column=True)
    assert tickets is not None
    customers = _common.table(data, "customers", required=False)
    second = [pl.col(c).dt.truncate("1s") for c in ("opened_at", "solved_at")]
    frame = tickets.select(
        pl.col("ticket_id").cast(pl.String),
        pl.col("customer_id").cast(pl.String),
        *second,
        pl.col("satisfaction").cast(pl.String),
    )
    if customers is not None:
        people = customers.select(
            "customer_id", "email", "name", pl.col("created_at").dt.truncate("1s").alias("_created")
        ).unique("customer_id", keep="first", maintain_order=True)
        frame = frame.join(people, on="customer_id", how="left", maintain_order="left")
    else:
        frame = frame.with_columns(
            pl.lit(None, dtype=pl.String).alias("email"),
            pl.lit(None, dtype=pl.String).alias("name"),
            pl.lit(None, dtype=TIMESTAMP).alias("_created"),
        )
    updated = pl.max_horizontal("opened_at", "solved_at").alias(_UPDATED)
    return frame.with_columns(updated).sort(_UPDATED, "ticket_id", maintain_order=True).collect()


def _id(frame: pl.DataFrame, column: str) -> pl.Expr:
    """An id column as Zendesk writes it: a JSON number when every id is one, else text."""
    numeric = frame.select(pl.col(column).str.contains(_NUMERIC_ID).all()).item()
    return pl.col(column).cast(pl.Int64) if numeric and frame.height else pl.col(column)


def _api_time(column: str) -> pl.Expr:
    return pl.col(column).dt.strftime(_API_FORMAT)


def _score(*, capitalised: bool = False) -> pl.Expr:
    """The satisfaction score: ``good``/``bad``; unrated ``offered`` when solved, else ``unoffered``."""
    score = pl.coalesce(
        pl.col("satisfaction"),
        pl.when(pl.col("solved_at").is_not_null()).then(pl.lit("offered")).otherwise(pl.lit("unoffered")),
    )
    return score.str.to_titlecase() if capitalised else score


def _status() -> pl.Expr:
    return pl.when(pl.col("solved_at").is_not_null()).then(pl.lit("solved")).otherwise(pl.lit("open"))


def _url(subdomain: str, endpoint: str, column: str) -> pl.Expr:
    return pl.format(f"https://{subdomain}.zendesk.com/api/v2/{endpoint}/{{}}.json", pl.col(column))


def _api_tickets(frame: pl.DataFrame, subdomain: str, *, embedded_metrics: bool) -> pl.DataFrame:
    """One API ticket object per row (as columns; structs for the nested objects)."""
    metric = pl.struct(
        _id(frame, "ticket_id").alias("ticket_id"),
        _api_time("opened_at").alias("created_at"),
        _api_time(_UPDATED).alias("updated_at"),
        _api_time("solved_at").alias("solved_at"),
    )
    return frame.select(
        _url(subdomain, "tickets", "ticket_id").alias("url"),
        _id(frame, "ticket_id").alias("id"),
        pl.struct(pl.lit("web").alias("channel")).alias("via"),
        _api_time("opened_at").alias("created_at"),
        _api_time(_UPDATED).alias("updated_at"),
        pl.col(_UPDATED).dt.epoch("s").alias("generated_timestamp"),
        pl.lit(None, dtype=pl.String).alias("type"),
        pl.format("Support request {}", pl.col("ticket_id")).alias("subject"),
        pl.lit(None, dtype=pl.String).alias("priority"),
        _status().alias("status"),
        _id(frame, "customer_id").alias("requester_id"),
        _id(frame, "customer_id").alias("submitter_id"),
        pl.lit(None, dtype=pl.Int64).alias("assignee_id"),
        pl.lit([], dtype=pl.List(pl.String)).alias("tags"),
        pl.struct(_score().alias("score")).alias("satisfaction_rating"),
        *([metric.alias("metric_set")] if embedded_metrics else []),
    )


def _metric_sets(frame: pl.DataFrame, subdomain: str) -> pl.DataFrame:
    """One ticket metric set per ticket (the side-load of ``include=metric_sets``)."""
    return frame.select(
        _url(subdomain, "ticket_metrics", "ticket_id").alias("url"),
        _id(frame, "ticket_id").alias("id"),
        _id(frame, "ticket_id").alias("ticket_id"),
        _api_time("opened_at").alias("created_at"),
        _api_time(_UPDATED).alias("updated_at"),
        _api_time("solved_at").alias("solved_at"),
    )


def _users(frame: pl.DataFrame, subdomain: str) -> pl.DataFrame:
    """One end user per requester (the side-load of ``include=users``): created as the customer, else at
    their first ticket."""
    people = frame.group_by("customer_id", maintain_order=True).agg(
        pl.coalesce(pl.col("_created").first(), pl.col("opened_at").min()).alias("_created"),
        pl.col("email").first(),
        pl.col("name").first(),
    )
    return people.select(
        _url(subdomain, "users", "customer_id").alias("url"),
        _id(people, "customer_id").alias("id"),
        "name",
        "email",
        _api_time("_created").alias("created_at"),
        pl.lit("end-user").alias("role"),
    )


def _check_subdomain(subdomain: object) -> str:
    if not (isinstance(subdomain, str) and subdomain and subdomain.replace("-", "").isalnum() and subdomain.isascii()):
        raise OptionError(
            f"subdomain is a Zendesk subdomain such as 'example', got {subdomain!r}",
            option="subdomain",
            value=subdomain,
        )
    return subdomain


def write_tickets_csv(data: Tables, folder: str | Path, *, tz: str = "UTC") -> Path:
    """Write the tickets as Zendesk's admin tickets CSV export (``tickets_export.csv``).

    Parameters
    ----------
    data
        A :class:`~retainlib.Dataset`, or a mapping ``{"tickets": frame,
        "customers": frame}`` of canonical frames; ``customers`` (optional)
        gives ``Requester email`` and ``Requester``.
    folder
        Where to write the file; created if needed.
    tz
        The account's time zone: times are written in it with their offset.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> tickets = pl.DataFrame({"ticket_id": ["35"], "customer_id": ["7"], "opened_at": ["2024-03-01T15:00:00Z"],
    ...                         "solved_at": ["2024-03-02T09:30:00Z"], "satisfaction": ["good"]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_tickets_csv({"tickets": tickets}, tmp, tz="Europe/Paris")
    ...     print(path.read_text().splitlines()[1][:76])
    ,35,,7,,,,,,,Support request 35,,Solved,,Web form,,2024-03-01 16:00:00 +0100
    """
    zone = check_tz(tz)
    frame = _tickets(_coerced(data))
    local = {c: pl.col(c).dt.convert_time_zone(zone).dt.strftime(_CSV_FORMAT) for c in ("opened_at", "solved_at")}
    values = {
        "Id": pl.col("ticket_id"),
        "Requester": pl.col("name"),
        "Requester id": pl.col("customer_id"),
        "Requester email": pl.col("email"),
        "Requester domain": pl.col("email").str.extract(r"@(.+)$", 1),
        "Subject": pl.format("Support request {}", pl.col("ticket_id")),
        "Status": _status().str.to_titlecase(),
        "Via": pl.lit("Web form"),
        "Created at": local["opened_at"],
        "Updated at": pl.col(_UPDATED).dt.convert_time_zone(zone).dt.strftime(_CSV_FORMAT),
        "Solved at": local["solved_at"],
        "Satisfaction Score": _score(capitalised=True),
    }
    out = frame.select((values.get(name, pl.lit(None, dtype=pl.String))).alias(name) for name in CSV_HEADER)
    path = _common.folder(folder) / "tickets_export.csv"
    out.write_csv(path)
    return path


def write_tickets_jsonl(data: Tables, folder: str | Path, *, subdomain: str = "example") -> list[Path]:
    """Write the tickets as JSON lines: ``tickets.jsonl`` (with ``metric_set``) and ``users.jsonl`` (requesters).

    Parameters
    ----------
    data
        A :class:`~retainlib.Dataset`, or a mapping ``{"tickets": frame,
        "customers": frame}``; ``customers`` (optional) gives the users'
        e-mails and names (``users.jsonl`` is written only with it).
    folder
        Where to write the files; created if needed.
    subdomain
        The account's subdomain, in the objects' ``url``.

    Returns
    -------
    list[Path]
        The files written: the tickets, then the users.
    """
    name = _check_subdomain(subdomain)
    given = _coerced(data)
    frame = _tickets(given)
    out = _common.folder(folder)
    tickets = out / "tickets.jsonl"
    _api_tickets(frame, name, embedded_metrics=True).write_ndjson(tickets)
    if _common.table(given, "customers", required=False) is None:
        return [tickets]
    users = out / "users.jsonl"
    _users(frame, name).write_ndjson(users)
    return [tickets, users]


def write_incremental_export(
    data: Tables, folder: str | Path, *, per_page: int = 1000, subdomain: str = "example"
) -> list[Path]:
    """Write the tickets as time-based incremental export pages, with the metric sets and users side-loaded.

    Parameters
    ----------
    data
        A :class:`~retainlib.Dataset`, or a mapping ``{"tickets": frame,
        "customers": frame}``; ``customers`` (optional) gives the side-loaded
        users' e-mails and names.
    folder
        Where to write ``tickets_0001.json``, ``tickets_0002.json``...; created if needed.
    per_page
        Tickets per page (Zendesk returns up to 1000), oldest update first.
    subdomain
        The account's subdomain, in the objects' ``url`` and ``next_page``.

    Returns
    -------
    list[Path]
        The pages written, in order (one, empty, for no tickets).
    """
    name = _check_subdomain(subdomain)
    if isinstance(per_page, bool) or not isinstance(per_page, int) or per_page < 1:
        raise OptionError(
            f"per_page is a positive number of tickets, got {per_page!r}", option="per_page", value=per_page
        )
    frame = _tickets(_coerced(data)).with_row_index("_i").with_columns((pl.col("_i") // per_page).alias("_page"))
    pages = max(1, -(-frame.height // per_page))
    texts = {
        "tickets": _api_tickets(frame, name, embedded_metrics=False),
        "metric_sets": _metric_sets(frame, name),
    }
    parts = [
        pl.DataFrame({"_page": frame["_page"], key: part.select(pl.struct(pl.all()).struct.json_encode())})
        .group_by("_page", maintain_order=True)
        .agg(pl.col(key).str.join(","))
        for key, part in texts.items()
    ]
    people = _page_users(frame, name)
    ends = frame.group_by("_page", maintain_order=True).agg(
        pl.col(_UPDATED).max().dt.epoch("s").alias("end_time"), pl.len().alias("count")
    )
    grid = pl.DataFrame({"_page": pl.arange(0, pages, eager=True).cast(frame.schema["_page"])})
    for part in (*parts, people, ends):
        grid = grid.join(part, on="_page", how="left", maintain_order="left")
    last = pl.col("_page") == pages - 1
    next_page = pl.format(
        f'"https://{name}.zendesk.com/api/v2/incremental/tickets.json?include=metric_sets%2Cusers&start_time={{}}"',
        pl.col("end_time"),
    )
    body = pl.concat_str(
        pl.lit('{"tickets":['),
        pl.col("tickets").fill_null(""),
        pl.lit('],"metric_sets":['),
        pl.col("metric_sets").fill_null(""),
        pl.lit('],"users":['),
        pl.col("users").fill_null(""),
        pl.lit('],"count":'),
        pl.col("count").fill_null(0).cast(pl.String),
        pl.lit(',"end_time":'),
        pl.col("end_time").fill_null(0).cast(pl.String),
        pl.lit(',"next_page":'),
        pl.when(last).then(pl.lit("null")).otherwise(next_page),
        pl.lit(',"end_of_stream":'),
        pl.when(last).then(pl.lit("true")).otherwise(pl.lit("false")),
        pl.lit("}"),
    )
    out = _common.folder(folder)
    written = []
    for number, text in enumerate(grid.select(body.alias("_json"))["_json"], 1):
        path = out / f"tickets_{number:04d}.json"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _page_users(frame: pl.DataFrame, subdomain: str) -> pl.DataFrame:
    """Per page, its requesters as users' JSON objects joined by commas."""
    numeric = _id(frame, "customer_id")
    firsts = frame.group_by("customer_id", maintain_order=True).agg(
        pl.coalesce(pl.col("_created").first(), pl.col("opened_at").min()).alias("_first")
    )
    people = (
        frame.unique(["_page", "customer_id"], keep="first", maintain_order=True)
        .join(firsts, on="customer_id", how="left", maintain_order="left")
        .select(
            "_page",
            pl.struct(
                _url(subdomain, "users", "customer_id").alias("url"),
                numeric.alias("id"),
                "name",
                "email",
                _api_time("_first").alias("created_at"),
                pl.lit("end-user").alias("role"),
            )
            .struct.json_encode()
            .alias("users"),
        )
    )
    return people.group_by("_page", maintain_order=True).agg(pl.col("users").str.join(","))


def _coerced(data: Tables) -> Tables:
    """``data`` with its tables canonical (a mapping's frames checked and coerced as a Dataset would)."""
    if isinstance(data, Dataset):
        return data
    tickets = _common.table(data, "tickets", required=True, every_column=True)
    customers = _common.table(data, "customers", required=False)
    return Dataset(tickets=tickets, customers=customers)
