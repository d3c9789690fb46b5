"""From Zendesk records to the canonical ``tickets`` and ``customers``: every policy, once for every format.

The readers hand over record frames (:mod:`retainlib_support._frames`) of text;
here, with polars expressions over all the files of a read:

* ticket metrics, satisfaction ratings and users are looked up by ticket or
  requester id (the last one read wins);
* a ticket is rejected at once, with one reason, when it cannot be read, is
  deleted, spam or merged into another, is superseded by a later version of
  itself, or has no requester;
* the others are conformed by the core (``retainlib._conform``: ids, UTC
  timestamps, ``solved_at >= opened_at``...) with two more rules: a solved
  ticket needs a solve time, and a satisfaction score must be one Zendesk
  writes.

Customers are the requesters of the loaded tickets.  Ticket metrics,
satisfaction ratings and users that are records of their own (not side-loads)
are loaded when they concern a loaded ticket, rejected otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from retainlib import _conform
from retainlib.load_report import REJECTS_SCHEMA, FileLoad
from retainlib.tables import CUSTOMERS, TICKETS
from retainlib_support._frames import FILE, LINE, PROBLEM, SIDE
from retainlib_support._options import Options

__all__ = ["EXTRAS", "SOLVED", "UNSOLVED", "Read", "assemble", "label", "rating"]

#: Statuses of a solved ticket (lower-case; the CSV writes them capitalised).
SOLVED = ("solved", "closed")
#: Statuses of a ticket not solved (now): a reopened ticket's earlier solve time does not count.
UNSOLVED = ("new", "open", "pending", "hold", "on_hold")
#: Satisfaction labels that are a rating (the API's scores, and the filters' ``good_with_comment``...).
_RATED = r"^(good|bad)(_with(out)?_comment)?$"
#: Satisfaction labels that are no rating: offered and not answered, never offered.
_UNRATED = ("offered", "unoffered", "not_offered", "none", "unrated", "no_rating")
#: Extra ticket columns kept as segments.
EXTRAS = ("status", "priority", "channel")
_SEQ, _TID, _RID, _EMAIL, _NAME, _EID = "_seq", "_tid", "_rid", "_email", "_name", "_eid"
_WHY_SOLVED, _WHY_SCORE = "_why_solved", "_why_score"


@dataclass(frozen=True, slots=True)
class Read:
    """The canonical tables of a read and the account of every record, file by file."""

    tickets: pl.DataFrame
    customers: pl.DataFrame
    loads: list[FileLoad]


def _clean(text: pl.Expr) -> pl.Expr:
    """Stripped text; blank is null."""
    s = text.str.strip_chars()
    return pl.when(s != "").then(s)


def _key(text: pl.Expr) -> pl.Expr:
    """An id as the core writes it (``"17850.0"`` -> ``"17850"``), null when blank."""
    return _conform.canonical_id(_clean(text))


def _email(text: pl.Expr) -> pl.Expr:
    """A normalised e-mail: stripped, lower-case, blank as null."""
    return _clean(text).str.to_lowercase()


def label(text: pl.Expr) -> pl.Expr:
    """A satisfaction or status label, normalised: lower-case words joined by ``_`` (``"On-hold"`` -> ``on_hold``)."""
    return _clean(text).str.to_lowercase().str.replace_all(r"[^a-z]+", "_").str.strip_chars("_")


def rating(labelled: pl.Expr) -> pl.Expr:
    """``good`` or ``bad`` from a normalised satisfaction label; null for any other."""
    return pl.when(labelled.str.contains(_RATED)).then(labelled.str.extract(r"^(good|bad)", 1))


def _unknown_score(labelled: pl.Expr) -> pl.Expr:
    return labelled.is_not_null() & ~labelled.str.contains(_RATED) & ~labelled.is_in(_UNRATED)


def _has_tag(tags: pl.Expr, tag: str) -> pl.Expr:
    return tags.str.to_lowercase().str.contains(rf"(^|[\s,]){tag}([\s,]|$)").fill_null(False)


def _not_an_id(text: pl.Expr) -> pl.Expr:
    """Text of a JSON object or list where an id should be."""
    return text.str.contains(r"^[\[{]").fill_null(False)


def _last(frame: pl.DataFrame, key: str, values: dict[str, pl.Expr]) -> pl.DataFrame:
    """Per key (a canonical id), the values of the last readable record holding it."""
    return (
        frame.filter(pl.col(PROBLEM).is_null())
        .with_columns(_key(pl.col(key)).alias("_k"))
        .filter(pl.col("_k").is_not_null())
        .group_by("_k", maintain_order=True)
        .agg(value.last().alias(name) for name, value in values.items())
    )


def _policy(customer: pl.Expr) -> pl.Expr:
    """Why a ticket is not a ticket at all (one reason, the first that applies), else null."""
    tags = pl.col("tags")
    tid = pl.col(_TID)
    superseded = tid.is_not_null() & ~tid.is_last_distinct()
    return pl.coalesce(
        pl.col(PROBLEM),
        pl.when(_not_an_id(tid)).then(pl.lit("id: not an id (a JSON object or list)")),
        pl.when(label(pl.col("status")) == "deleted").then(pl.lit("status: a deleted ticket")),
        pl.when(_has_tag(tags, "spam")).then(pl.lit("tags: marked as spam")),
        pl.when(_has_tag(tags, "closed_by_merge")).then(pl.lit("tags: merged into another ticket (closed_by_merge)")),
        pl.when(superseded).then(pl.format("id: superseded by a later version of ticket {} in the files read", tid)),
        pl.when(_not_an_id(pl.col(_RID))).then(pl.lit("requester_id: not an id (a JSON object or list)")),
        pl.when(customer.is_null()).then(
            pl.lit("requester_id: no requester (neither a requester id nor a requester e-mail)")
        ),
    )


def _solved(options: Options) -> tuple[pl.Expr, pl.Expr]:
    """The solve time (text) of a ticket and, for a solved ticket without one, why it is rejected."""
    status = label(pl.col("status"))
    solved_like = status.is_in(SOLVED)
    known = pl.coalesce(_clean(pl.col("solved_at")), _clean(pl.col("_m_solved")))
    updated = _clean(pl.col("updated_at"))
    unsolved = status.is_in(UNSOLVED)
    if options.solve_time == "updated_at":
        value = pl.when(unsolved).then(None).when(solved_like & known.is_null()).then(updated).otherwise(known)
        why = pl.when(solved_like & known.is_null() & updated.is_null()).then(
            pl.format("the ticket is {} but neither its solve time nor updated_at was read", status)
        )
        return value, why
    value = pl.when(unsolved).then(None).otherwise(known)
    why = pl.when(solved_like & known.is_null()).then(
        pl.format(
            "the ticket is {} but no solve time was read (export the ticket metrics, include=metric_sets, "
            "or pass solve_time='updated_at')",
            status,
        )
    )
    return value, why


def _satisfaction() -> tuple[pl.Expr, pl.Expr]:
    """The ticket's rating (its own, else the last satisfaction rating read for it) and why its own is refused."""
    own = label(pl.col("score"))
    value = pl.coalesce(rating(own), rating(label(pl.col("_r_score"))))
    why = pl.when(_unknown_score(own)).then(
        pl.format(
            "unknown satisfaction score '{}' (Zendesk scores are good, bad, offered or unoffered)",
            _clean(pl.col("score")),
        )
    )
    return value, why


def _rejects(frame: pl.DataFrame, table: str, reason: pl.Expr) -> pl.DataFrame:
    """Rejected records in the report's shape: file, line, table, column (the reason's first word), reason."""
    return frame.select(
        pl.col(FILE).alias("file"),
        pl.col(LINE).cast(pl.Int64).alias("line"),
        pl.lit(table).alias("table"),
        reason.str.splitn(": ", 2).struct.field("field_0").alias("column"),
        reason.alias("reason"),
    ).cast(REJECTS_SCHEMA)


def _conformed(frame: pl.DataFrame, options: Options) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The tickets the core conforms, and the rejected ones (with the core's reasons and the two rules)."""
    c = _conform.conform(frame.lazy(), TICKETS, tz=options.tz, check_duplicates=False)
    c = c.with_rules({"solved_at": pl.col(_WHY_SOLVED), "satisfaction": pl.col(_WHY_SCORE)}).collect()
    bad = pl.col(_conform.BAD)
    loaded = c.output(c.frame.filter(~bad)).collect()
    explained = c.explain(c.frame.filter(bad)).collect()
    rejected = explained.select(
        pl.col(FILE).alias("file"),
        pl.col(_conform.ROW).cast(pl.Int64).alias("line"),
        pl.lit("tickets").alias("table"),
        pl.col(_conform.PROBLEMS).list.first().str.splitn(": ", 2).struct.field("field_0").alias("column"),
        pl.col(_conform.PROBLEM).alias("reason"),
    ).cast(REJECTS_SCHEMA)
    return loaded, rejected


def _user_created(users: pl.DataFrame, options: Options) -> pl.DataFrame:
    """Requesters' creation times (``customer_id``, ``_created``) parsed as the core parses timestamps.

    A time that cannot be read is left out: the customer is then created at their first ticket.
    """
    frame = users.select(pl.col("_k").alias("customer_id"), pl.col("_u_created").alias("created_at")).filter(
        pl.col("created_at").is_not_null()
    )
    c = _conform.conform(frame.lazy(), CUSTOMERS, tz=options.tz, check_duplicates=False)
    good = c.output(c.frame.filter(~pl.col(_conform.BAD)))
    return good.select("customer_id", pl.col("created_at").alias("_created")).collect()


def _customers(loaded: pl.DataFrame, created: pl.DataFrame) -> pl.DataFrame:
    """One customer per requester of a loaded ticket: e-mail and name first read, created at the earliest known."""
    per = (
        loaded.sort(_SEQ)
        .group_by("customer_id", maintain_order=True)
        .agg(
            pl.col(_EMAIL).drop_nulls().first().alias("email"),
            pl.col(_NAME).drop_nulls().first().alias("name"),
            pl.col("opened_at").min().alias("_first"),
        )
        .join(created, on="customer_id", how="left", maintain_order="left")
    )
    return per.select(
        "customer_id",
        pl.min_horizontal("_first", "_created").alias("created_at"),
        "email",
        "name",
    ).cast(CUSTOMERS.schema)


def _side_records(
    frame: pl.DataFrame, key: str, known: pl.Series, missing: str, absent: str, extra: pl.Expr | None = None
) -> pl.DataFrame:
    """Records of their own (not side-loads) that attach to a loaded ticket, with why the others do not."""
    k = _key(pl.col(key))
    reason = pl.coalesce(
        pl.col(PROBLEM),
        pl.when(k.is_null()).then(pl.lit(missing)),
        pl.when(_not_an_id(k)).then(pl.lit(f"{key}: not an id (a JSON object or list)")),
        *([extra] if extra is not None else []),
        pl.when(~k.is_in(known.implode())).then(pl.format(absent, k)),
    )
    return frame.filter(~pl.col(SIDE)).with_columns(reason.alias("_reason"))


def assemble(
    files: Sequence[Path],
    tickets: pl.DataFrame,
    metrics: pl.DataFrame,
    ratings: pl.DataFrame,
    users: pl.DataFrame,
    options: Options,
) -> Read:
    """The canonical tables from every record of a read, and one account per file (and table)."""
    m = _last(metrics, "ticket_id", {"_m_solved": pl.col("solved_at")})
    r = _last(ratings, "ticket_id", {"_r_score": pl.col("score")})
    u = _last(
        users,
        "id",
        {"_u_email": _email(pl.col("email")), "_u_name": _clean(pl.col("name")), "_u_created": pl.col("created_at")},
    )
    t = (
        tickets.with_row_index(_SEQ)
        .with_columns(_key(pl.col("id")).alias(_TID), _key(pl.col("requester_id")).alias(_RID))
        .join(m, left_on=_TID, right_on="_k", how="left", maintain_order="left")
        .join(r, left_on=_TID, right_on="_k", how="left", maintain_order="left")
        .join(u, left_on=_RID, right_on="_k", how="left", maintain_order="left")
        .with_columns(
            pl.coalesce(_email(pl.col("email")), pl.col("_u_email")).alias(_EMAIL),
            pl.coalesce(_clean(pl.col("name")), pl.col("_u_name")).alias(_NAME),
        )
    )
    # A requester known only by e-mail takes the id another ticket or a user gives that e-mail.
    ids_by_email = (
        pl.concat(
            [
                t.select(pl.col(_EMAIL).alias("_e"), pl.col(_RID).alias(_EID)),
                u.select(pl.col("_u_email").alias("_e"), pl.col("_k").alias(_EID)),
            ]
        )
        .drop_nulls()
        .filter(~_not_an_id(pl.col(_EID)))
        .group_by("_e", maintain_order=True)
        .agg(pl.col(_EID).first())
    )
    t = t.join(ids_by_email, left_on=_EMAIL, right_on="_e", how="left", maintain_order="left")
    customer = pl.coalesce(pl.col(_RID), pl.col(_EID), pl.col(_EMAIL))
    t = t.with_columns(_policy(customer).alias("_policy"), customer.alias("_customer"))

    policy_rejects = _rejects(t.filter(pl.col("_policy").is_not_null()), "tickets", pl.col("_policy"))
    solved, why_solved = _solved(options)
    satisfaction, why_score = _satisfaction()
    candidates = t.filter(pl.col("_policy").is_null()).select(
        pl.col(LINE).alias(_conform.ROW),
        pl.col(_TID).alias("ticket_id"),
        pl.col("_customer").alias("customer_id"),
        pl.col("created_at").alias("opened_at"),
        solved.alias("solved_at"),
        satisfaction.alias("satisfaction"),
        label(pl.col("status")).alias("status"),
        label(pl.col("priority")).alias("priority"),
        _clean(pl.col("channel")).str.to_lowercase().alias("channel"),
        FILE,
        _SEQ,
        _EMAIL,
        _NAME,
        _RID,
        why_solved.alias(_WHY_SOLVED),
        why_score.alias(_WHY_SCORE),
    )
    loaded, conform_rejects = _conformed(candidates, options)
    customers = _customers(loaded, _user_created(u, options))
    canonical = [*TICKETS.schema.names(), *EXTRAS]

    # Records of their own that only inform tickets: loaded when their ticket (or requester) is.
    ticket_ids = loaded["ticket_id"]
    requester_ids = loaded[_RID].drop_nulls()
    absent_ticket = "ticket_id: no loaded ticket {} among the files read"
    side = pl.concat(
        [
            _side_records(metrics, "ticket_id", ticket_ids, "ticket_id: missing", absent_ticket).select(
                FILE, LINE, "_reason"
            ),
            _side_records(
                ratings,
                "ticket_id",
                ticket_ids,
                "ticket_id: missing",
                absent_ticket,
                pl.when(_unknown_score(label(pl.col("score")))).then(
                    pl.format("score: unknown satisfaction score '{}'", _clean(pl.col("score")))
                ),
            ).select(FILE, LINE, "_reason"),
        ]
    )
    people = _side_records(
        users, "id", requester_ids, "id: missing", "id: user {} is not the requester of a loaded ticket"
    ).select(FILE, LINE, "_reason")

    loads = _loads(
        files,
        tickets,
        loaded,
        pl.concat([policy_rejects, conform_rejects]),
        side,
        people,
    )
    return Read(tickets=loaded.select(canonical), customers=customers, loads=loads)


def _counts(frame: pl.DataFrame, column: str = FILE) -> dict[str, int]:
    return {str(k): int(n) for k, n in frame.group_by(column).len().iter_rows()}


def _loads(
    files: Sequence[Path],
    tickets: pl.DataFrame,
    loaded: pl.DataFrame,
    rejected: pl.DataFrame,
    side: pl.DataFrame,
    people: pl.DataFrame,
) -> list[FileLoad]:
    """One account per file and table: tickets (with the metrics and ratings of their own), and users."""
    read_t, loaded_t = _counts(tickets), _counts(loaded)
    read_s, loaded_s = _counts(side), _counts(side.filter(pl.col("_reason").is_null()))
    read_u, loaded_u = _counts(people), _counts(people.filter(pl.col("_reason").is_null()))
    side_rejects = _rejects(side.filter(pl.col("_reason").is_not_null()), "tickets", pl.col("_reason"))
    user_rejects = _rejects(people.filter(pl.col("_reason").is_not_null()), "customers", pl.col("_reason"))
    ticket_rejects = pl.concat([rejected, side_rejects])
    loads: list[FileLoad] = []
    for path in dict.fromkeys(str(p) for p in files):
        n_side = read_s.get(path, 0)
        if read_t.get(path, 0) or n_side or not read_u.get(path, 0):
            loads.append(
                FileLoad(
                    file=path,
                    table="tickets",
                    rows_read=read_t.get(path, 0) + n_side,
                    rows_loaded=loaded_t.get(path, 0) + loaded_s.get(path, 0),
                    rejected=ticket_rejects.filter(pl.col("file") == path).sort("line", maintain_order=True),
                    rows_out=loaded_t.get(path, 0) if n_side else None,
                )
            )
        if read_u.get(path, 0):
            loads.append(
                FileLoad(
                    file=path,
                    table="customers",
                    rows_read=read_u[path],
                    rows_loaded=loaded_u.get(path, 0),
                    rejected=user_rejects.filter(pl.col("file") == path).sort("line", maintain_order=True),
                    rows_out=0,
                )
            )
    return loads
