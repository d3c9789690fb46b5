"""retainlib sources ``hubspot`` and ``salesforce``: CRM exports as customers, orders, subscriptions, tickets.

* ``hubspot`` reads HubSpot's CSV exports of **contacts** and **companies**
  (-> ``customers``) and **deals** (closed-won deals -> ``orders`` of their
  company, else their contact);
* ``salesforce`` reads **Data Export / Data Loader** files of Account,
  Contact, Opportunity and Case, and **report exports** of opportunities,
  accounts and cases (accounts and account-less contacts -> ``customers``,
  won opportunities -> ``orders``, cases -> ``tickets``); with
  ``opportunities='subscriptions'`` (or ``'both'``), won opportunities with
  contract dates -> ``subscriptions`` segments, MRR = Amount / the term in months.

Each file is recognised by its header, whatever its name.  Every record is
loaded or rejected with its file, line and reason (rows read = rows loaded +
rows rejected, file by file); a file that cannot be read at all, or that needs
an option to be read right (``tz`` for local times, ``locale`` for a report's
numbers and dates, ``currency`` for amounts without one), raises a
:class:`~retainlib.errors.SourceError` saying so.  ``docs/sources/hubspot.md``
and ``docs/sources/salesforce.md`` give every policy and option.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from retainlib import Dataset
from retainlib.errors import OptionError
from retainlib.load_report import FileLoad, LoadReport
from retainlib.plugins import ReadResult, Source, hookimpl, progress
from retainlib_crm import _hubspot, _salesforce
from retainlib_crm._csvfile import SEPARATORS, decode_head, header_of
from retainlib_crm._options import HUBSPOT_OPTIONS, SALESFORCE_OPTIONS, HubSpotOptions, SalesforceOptions
from retainlib_crm._tables import Part, assemble

__all__ = [
    "CONFIDENT",
    "HUBSPOT_OPTIONS",
    "LIKELY",
    "SALESFORCE_OPTIONS",
    "detect_hubspot",
    "detect_salesforce",
    "read_hubspot",
    "read_salesforce",
    "retainlib_sources",
]

#: Score of a file certainly of the source (HubSpot's ``Record ID`` header, Salesforce's API names).
CONFIDENT = 90
#: Score of a header that fits the source less surely (a Salesforce report's labels, another case of ``Record ID``).
LIKELY = 70

_EXTRAS = {
    "hubspot": {"customers": _hubspot.CUSTOMER_EXTRAS, "orders": _hubspot.ORDER_EXTRAS},
    "salesforce": {
        "customers": _salesforce.CUSTOMER_EXTRAS,
        "orders": _salesforce.ORDER_EXTRAS,
        "subscriptions": _salesforce.SUBSCRIPTION_EXTRAS,
        "tickets": _salesforce.TICKET_EXTRAS,
    },
}


def _headers(head: bytes) -> list[list[str]]:
    text = decode_head(head)
    return [h for h in (header_of(text, s) for s in SEPARATORS) if len(h) > 1]


def detect_hubspot(path: Path, head: bytes) -> int:
    """Score a file for ``hubspot``: :data:`CONFIDENT` for a HubSpot export's header, else 0."""
    del path  # recognised by content
    for header in _headers(head):
        if _hubspot.recognise(header) is not None:
            return CONFIDENT if _hubspot.confident(header) else LIKELY
    return 0


def detect_salesforce(path: Path, head: bytes) -> int:
    """Score a file for ``salesforce``: :data:`CONFIDENT` for a Data Export file, :data:`LIKELY` for a report."""
    del path  # recognised by content
    for header in _headers(head):
        sniffed = _salesforce.sniff(header)
        if sniffed is not None:
            return CONFIDENT if sniffed.shape == "export" else LIKELY
    return 0


def _result(source: str, files: Sequence[Path], parts: Sequence[Part]) -> ReadResult:
    """The dataset and report of a read, from the part each file gave."""
    tables: dict[str, pl.DataFrame] = {}
    loads: dict[str, list[FileLoad]] = {str(f): [] for f in files}
    for table, extras in _EXTRAS[source].items():
        mine = [p for p in parts if p.table == table]
        if not mine:
            continue
        built = assemble(mine, table, extras)
        tables[table] = built.frame
        for load in built.loads:
            loads[load.file].append(load)
    ordered = [load for f in files for load in loads[str(f)]]
    for f in files:
        progress(f, loads[str(f)][0].rows_read)
    dataset = Dataset(
        customers=tables.get("customers"),
        orders=tables.get("orders"),
        subscriptions=tables.get("subscriptions"),
        tickets=tables.get("tickets"),
        validate="none",
        source=source,
    )
    return ReadResult(dataset=dataset, report=LoadReport(source=source, files=tuple(ordered)))


def _files(paths: Sequence[Path], source: str) -> list[Path]:
    if not paths:
        raise OptionError(f"the {source} source needs at least one file", option="paths", value=list(paths))
    files = [Path(p) for p in paths]
    if len(set(files)) != len(files):
        raise OptionError(f"a file is given twice: {files}", option="paths", value=list(paths))
    return files


def read_hubspot(
    paths: Sequence[Path],
    *,
    tz: str | None = None,
    currency: str | None = None,
    customer: str | None = None,
    won_stages: str | Sequence[str] | None = None,
    mapping: str | dict[str, str] | None = None,
    encoding: str | None = None,
) -> ReadResult:
    """Read HubSpot contacts, companies and deals exports into ``customers`` and ``orders``.

    Options (strings, as the command line gives them; ``None`` is the
    default) are described in :data:`HUBSPOT_OPTIONS` and
    ``docs/sources/hubspot.md``.
    """
    files = _files(paths, "hubspot")
    options = HubSpotOptions.of(
        targets=_hubspot.targets(),
        tz=tz,
        currency=currency,
        customer=customer,
        won_stages=won_stages,
        mapping=mapping,
        encoding=encoding,
    )
    parts = [_hubspot.read_file(path, options) for path in files]
    return _result("hubspot", files, parts)


def read_salesforce(
    paths: Sequence[Path],
    *,
    tz: str | None = None,
    currency: str | None = None,
    locale: str | None = None,
    won_stages: str | Sequence[str] | None = None,
    mapping: str | dict[str, str] | None = None,
    encoding: str | None = None,
    opportunities: str | None = None,
) -> ReadResult:
    """Read Salesforce Data Export / Data Loader files and report exports into customers, orders (or subscription
    segments, ``opportunities='subscriptions'``) and tickets.

    Options (strings, as the command line gives them; ``None`` is the
    default) are described in :data:`SALESFORCE_OPTIONS` and
    ``docs/sources/salesforce.md``.
    """
    files = _files(paths, "salesforce")
    options = SalesforceOptions.of(
        targets=_salesforce.targets(),
        tz=tz,
        currency=currency,
        locale=locale,
        won_stages=won_stages,
        mapping=mapping,
        encoding=encoding,
        opportunities=opportunities,
    )
    parts = [part for path in files for part in _salesforce.read_file(path, options)]
    return _result("salesforce", files, parts)


@hookimpl
def retainlib_sources() -> Iterable[Source]:
    """The ``hubspot`` and ``salesforce`` sources."""
    yield Source(
        name="hubspot",
        description="HubSpot: contacts and companies exports (customers) and deals exports (closed-won deals as "
        "orders of their company or contact)",
        kinds=("csv",),
        reader=read_hubspot,
        detector=detect_hubspot,
        options=HUBSPOT_OPTIONS,
    )
    yield Source(
        name="salesforce",
        description="Salesforce: Data Export / Data Loader files (Account, Contact, Opportunity, Case) and report "
        "exports (accounts as customers, won opportunities as orders or, with their contract dates, subscription "
        "segments, cases as tickets)",
        kinds=("csv",),
        reader=read_salesforce,
        detector=detect_salesforce,
        options=SALESFORCE_OPTIONS,
    )
