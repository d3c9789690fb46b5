"""The record frames every reader produces: one schema per kind of Zendesk record, all text.

Readers (CSV, JSON, JSON lines) only find records and their fields; the
policies and the conforming live in :mod:`retainlib_support._tickets`, once
for every format.
"""

from __future__ import annotations

import polars as pl

__all__ = [
    "FILE",
    "LINE",
    "METRIC_SCHEMA",
    "PROBLEM",
    "RATING_SCHEMA",
    "SIDE",
    "TICKET_FIELDS",
    "TICKET_SCHEMA",
    "USER_SCHEMA",
]

FILE = "_file"  # the file a record came from
LINE = "_line"  # its line (CSV, JSON lines) or its position among the file's records (a JSON document)
PROBLEM = "_problem"  # why the record cannot be read at all ("json: invalid JSON"), else null
SIDE = "_side"  # a side-loaded record (a part of the tickets beside it), not a record of its own

#: Fields of a ticket, as text: ``score`` is the ticket's own satisfaction score, ``solved_at`` its own
#: solve time (the CSV's ``Solved at``, or the ``metric_set`` embedded in an API ticket).
TICKET_FIELDS = (
    "id",
    "requester_id",
    "email",
    "name",
    "created_at",
    "updated_at",
    "solved_at",
    "status",
    "score",
    "tags",
    "priority",
    "channel",
)
_META = {FILE: pl.String(), LINE: pl.Int64(), PROBLEM: pl.String()}
TICKET_SCHEMA = pl.Schema({**_META, **dict.fromkeys(TICKET_FIELDS, pl.String())})
_SIDED = {**_META, SIDE: pl.Boolean()}
#: A ticket metric (``ticket_metric``, ``metric_sets``): its ticket and solve time.
METRIC_SCHEMA = pl.Schema({**_SIDED, "ticket_id": pl.String(), "solved_at": pl.String()})
#: A satisfaction rating: its ticket and score.
RATING_SCHEMA = pl.Schema({**_SIDED, "ticket_id": pl.String(), "score": pl.String()})
#: A user (a ticket's requester): id, e-mail, name, creation time.
USER_SCHEMA = pl.Schema(
    {**_SIDED, "id": pl.String(), "email": pl.String(), "name": pl.String(), "created_at": pl.String()}
)
