"""HubSpot's CSV exports of contacts, companies and deals, as rows of ``customers`` and ``orders``.

Each export starts with ``Record ID`` and holds the properties of the view (or
all properties, and the associations).  Columns are found by name
(:data:`NAMES`: the English label, the internal name, and the German, French
and Spanish labels), never by position.  What each kind becomes:

* a **contact** -> a customer ``contact-<Record ID>``, created at ``Create
  Date``, with its normalised ``Email`` and its name;
* a **company** -> a customer ``company-<Record ID>``, created at ``Create
  Date``, with its ``Company name``;
* a **deal** -> an order when it is closed won (``Is Closed Won`` when the
  export has it, else its ``Deal Stage``: ``Closed Won`` / ``closedwon``, a
  translation, or a stage given in ``won_stages``), of its associated company
  (the primary one, else the first) or, without one, its first associated
  contact (``customer="contact"`` puts the contact first); dated at ``Close
  Date``, for its ``Amount`` in its ``Currency`` (or the ``currency`` option).
  Other deals are rejected with their stage.

Times are written without an offset in the account's time zone: the ``tz``
option reads them; without it a file holding such times is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import polars as pl

from retainlib import _conform
from retainlib.errors import SourceError
from retainlib_crm._columns import Columns
from retainlib_crm._csvfile import LINE, PROBLEM, Grid, read_grid
from retainlib_crm._options import HubSpotOptions, stage_key
from retainlib_crm._tables import WHY, Part, reasons
from retainlib_crm._values import Parsed, boolean, clean, instant, label, money, staged

__all__ = ["CUSTOMER_EXTRAS", "KINDS", "NAMES", "ORDER_EXTRAS", "Kind", "kind_of", "read_file", "targets"]

Kind = Literal["contacts", "companies", "deals"]
KINDS: tuple[Kind, ...] = ("contacts", "companies", "deals")
SOURCE = "hubspot"

#: Field -> its names: English label, internal name, then German, French and Spanish labels.
NAMES: Mapping[str, tuple[str, ...]] = {
    "id": ("Record ID", "hs_object_id", "Contact ID", "Company ID", "Deal ID",
           "Datensatz-ID", "ID de fiche d'informations", "ID de la fiche d'informations", "ID de registro"),
    "email": ("Email", "email", "E-Mail", "E-Mail-Adresse", "Adresse e-mail", "E-mail",
              "Correo", "Correo electrónico"),
    "first_name": ("First Name", "firstname", "Vorname", "Prénom", "Nombre"),
    "last_name": ("Last Name", "lastname", "Nachname", "Nom", "Apellidos", "Apellido"),
    "created": ("Create Date", "createdate", "Erstelldatum", "Erstellungsdatum", "Date de création",
                "Fecha de creación"),
    "company_name": ("Company name", "name", "Firmenname", "Unternehmensname", "Name des Unternehmens",
                     "Nom de l'entreprise", "Nombre de la empresa"),
    "domain": ("Company Domain Name", "domain", "Domain-Name des Unternehmens", "Unternehmensdomain",
               "Nom de domaine de l'entreprise", "Nombre de dominio de la empresa"),
    "deal_name": ("Deal Name", "dealname", "Deal-Name", "Dealname", "Name des Deals", "Nom de la transaction",
                  "Nombre del negocio"),
    "stage": ("Deal Stage", "dealstage", "Deal-Phase", "Dealphase", "Phase de la transaction",
              "Phase de transaction", "Etapa del negocio", "Etapa de negocio"),
    "amount": ("Amount", "amount", "Betrag", "Montant", "Importe", "Cantidad"),
    "close": ("Close Date", "closedate", "Abschlussdatum", "Date de fermeture", "Date de clôture",
              "Fecha de cierre"),
    "currency": ("Currency", "deal_currency_code", "Währung", "Devise", "Moneda"),
    "pipeline": ("Pipeline", "pipeline", "Pipeline de transactions", "Pipeline de negocios"),
    "won": ("Is Closed Won", "hs_is_closed_won", "Is closed won"),
    "closed": ("Is Deal Closed?", "Is Closed", "hs_is_closed"),
    "primary_company": ("Associated Company IDs (Primary)", "Associated Company ID (Primary)",
                        "Primary Associated Company ID", "associatedcompanyid",
                        "Zugeordnete Unternehmens-IDs (primär)", "ID des entreprises associées (principale)",
                        "ID de empresas asociadas (principal)"),
    "company_ids": ("Associated Company IDs", "Associated Company ID", "Zugeordnete Unternehmens-IDs",
                    "ID des entreprises associées", "ID de empresas asociadas"),
    "contact_ids": ("Associated Contact IDs", "Associated Contact ID", "Zugeordnete Kontakt-IDs",
                    "ID des contacts associés", "ID de contactos asociados"),
}  # fmt: skip

#: Stage labels and internal values of a won deal (compared as keys: ``Closed won`` is ``closedwon``).
WON = ("closedwon", "Abgeschlossen und gewonnen", "Fermé gagné", "Fermée gagnée", "Conclue gagnée", "Cerrado ganado")
#: Stage labels and internal values of a lost deal.
LOST = ("closedlost", "Abgeschlossen und verloren", "Fermé perdu", "Fermée perdue", "Conclue perdue", "Cerrado perdido")
#: Extra columns of the customers the source reads.
CUSTOMER_EXTRAS = ("kind", "record_id")
#: Extra columns of the orders (deals).
ORDER_EXTRAS = ("deal_name", "pipeline", "deal_stage")
#: Columns a kind of export must have to be read (the names shown in an error).
_REQUIRED: Mapping[Kind, tuple[tuple[str, ...], ...]] = {
    "contacts": (("id",), ("created",)),
    "companies": (("id",), ("created",)),
    "deals": (("id",), ("stage", "won"), ("close",), ("amount",), ("primary_company", "company_ids", "contact_ids")),
}
#: The fields each kind of export reads (a repeated column of another field is not looked at).
_READ: Mapping[Kind, tuple[str, ...]] = {
    "contacts": ("id", "email", "first_name", "last_name", "created"),
    "companies": ("id", "company_name", "created"),
    "deals": (
        "id", "deal_name", "stage", "pipeline", "close", "amount", "currency", "won", "closed", "primary_company",
        "company_ids", "contact_ids",
    ),
}  # fmt: skip
_TIME_HINT = "expected 2024-03-01 10:00, as HubSpot exports write times"


def targets() -> list[str]:
    """The English names of the columns read (what ``mapping`` may rename to)."""
    return [n for names in NAMES.values() for n in names]


def kind_of(columns: Columns) -> Kind | None:
    """The kind of export a header is: deals, contacts or companies (``None`` when none)."""
    if not columns.has("id"):
        return None
    if columns.has("stage") or columns.has("deal_name"):
        return "deals"
    if columns.has("email") or (columns.has("first_name") and columns.has("last_name")):
        return "contacts"
    if columns.has("company_name") or columns.has("domain"):
        return "companies"
    return None


def recognise(header: Sequence[str], mapping: Mapping[str, str] | None = None) -> Kind | None:
    """The kind of HubSpot export a header is, else ``None``."""
    return kind_of(Columns.of(header, NAMES, mapping))


def confident(header: Sequence[str]) -> bool:
    """Whether the header starts as HubSpot writes it (``Record ID`` or a translation, exactly)."""
    return bool(header) and header[0].replace("\ufeff", "").strip() in NAMES["id"][:1] + NAMES["id"][5:]


def _record_id(columns: Columns) -> tuple[pl.Expr, pl.Expr]:
    """The record id (``"1.0"`` read as ``1``) and why a row has none."""
    raw = columns.text("id")
    value = _conform.canonical_id(raw)
    name = columns.name("id", "Record ID")
    why = (
        pl.when(raw.is_null())
        .then(pl.lit(f"{name}: missing"))
        .when(~value.str.contains(r"^\d+$"))
        .then(pl.lit(f"{name}: not a HubSpot record id (a whole number)"))
    )
    return value, why


def _first_id(columns: Columns, field: str) -> tuple[pl.Expr, pl.Expr]:
    """The first id of an association column (ids separated by ``;``) and why it is no record id."""
    raw = columns.text(field)
    first = _conform.canonical_id(clean(raw.str.split(";").list.first().str.split(",").list.first()))
    why = pl.when(first.is_not_null() & ~first.str.contains(r"^\d+$")).then(
        pl.format("{}: not a record id ('{}')", pl.lit(columns.name(field)), first)
    )
    return pl.when(first.str.contains(r"^\d+$")).then(first), why


def _time(columns: Columns, field: str, options: HubSpotOptions) -> Parsed:
    """A time column (the account's local times; ISO times with an offset too)."""
    return instant(
        columns.text(field),
        field,
        zone=options.tz,
        date_zone=options.tz or "UTC",
        order=None,
        numeric=False,
        hint=_TIME_HINT,
    )


def _labelled(columns: Columns, field: str, why: pl.Expr) -> pl.Expr:
    return pl.when(why.is_not_null()).then(pl.lit(f"{columns.name(field)}: ") + why)


def _customers(grid: Grid, columns: Columns, kind: Kind, options: HubSpotOptions) -> tuple[pl.DataFrame, bool]:
    created = _time(columns, "created", options)
    frame = staged(grid.frame.lazy().with_columns(columns.prepare()), [created])
    record, record_why = _record_id(columns)
    created_name = columns.name("created", "Create Date")
    missing_created = pl.when(columns.text("created").is_null()).then(pl.lit(f"{created_name}: missing"))
    prefix = "contact-" if kind == "contacts" else "company-"
    if kind == "contacts":
        name = pl.concat_str(columns.text("first_name"), columns.text("last_name"), separator=" ", ignore_nulls=True)
        email = columns.text("email").str.to_lowercase()
    else:
        name = columns.text("company_name")
        email = pl.lit(None, dtype=pl.String)
    why = pl.coalesce(
        pl.col(PROBLEM),
        reasons(
            record_why, *columns.conflicts(_READ[kind]), missing_created, _labelled(columns, "created", created.why)
        ),
    )
    rows = frame.select(
        pl.col(LINE).alias(_conform.ROW),
        (pl.lit(prefix) + record).alias("customer_id"),
        created.value.alias("created_at"),
        email.alias("email"),
        pl.when(name != "").then(name).alias("name"),
        pl.lit("contact" if kind == "contacts" else "company").alias("kind"),
        record.alias("record_id"),
        why.alias(WHY),
        created.needs_zone.alias("_needs_zone"),
    ).collect()
    return rows.drop("_needs_zone"), bool(rows["_needs_zone"].any())


def _deals(grid: Grid, columns: Columns, options: HubSpotOptions) -> tuple[pl.DataFrame, bool]:
    close = _time(columns, "close", options)
    amount = money(columns.text("amount"), "amount")
    won = boolean(columns.text("won"), "won")
    closed = boolean(columns.text("closed"), "closed")
    frame = staged(grid.frame.lazy().with_columns(columns.prepare()), [close, amount, won, closed])
    record, record_why = _record_id(columns)
    stage = columns.text("stage")
    stage_name = columns.name("stage", "Deal Stage")
    won_name = columns.name("won", "Is Closed Won")
    stage_key_ = label(stage)
    won_keys = [stage_key(s) for s in WON] + list(options.won_stages)
    lost_keys = [stage_key(s) for s in LOST]
    by_stage = pl.when(stage.is_not_null()).then(stage_key_.is_in(won_keys))
    is_won = pl.coalesce(won.value, by_stage)
    lost = stage_key_.is_in(lost_keys).fill_null(False) | (closed.value.fill_null(False) & ~is_won.fill_null(True))
    shown_stage = pl.coalesce(stage, pl.lit("no stage"))
    policy = (
        pl.when(won.why.is_not_null())
        .then(pl.lit(f"{won_name}: ") + won.why)
        .when(is_won.is_null())
        .then(pl.lit(f"{stage_name}: missing (the deal has no stage)"))
        .when(~is_won & lost)
        .then(pl.format("{}: a lost deal ({}), not an order", pl.lit(stage_name), shown_stage))
        .when(~is_won)
        .then(pl.format("{}: not closed won ({}), not an order", pl.lit(stage_name), shown_stage))
    )
    close_name = columns.name("close", "Close Date")
    amount_name = columns.name("amount", "Amount")
    primary, primary_why = _first_id(columns, "primary_company")
    company, company_why = _first_id(columns, "company_ids")
    contact, contact_why = _first_id(columns, "contact_ids")
    the_company = pl.lit("company-") + pl.coalesce(primary, company)
    the_contact = pl.lit("contact-") + contact
    customer = (
        pl.coalesce(the_company, the_contact)
        if options.customer == "company"
        else pl.coalesce(the_contact, the_company)
    )
    assoc_name = columns.name("company_ids") or columns.name("primary_company") or columns.name("contact_ids")
    currency_text = columns.text("currency")
    code = pl.coalesce(currency_text.str.extract(r"\(([A-Za-z]{3})\)\s*$", 1), currency_text)
    currency = pl.coalesce(code.str.to_uppercase(), pl.lit(options.currency, dtype=pl.String))
    problems = reasons(
        *columns.conflicts(_READ["deals"]),
        pl.when(columns.text("close").is_null()).then(pl.lit(f"{close_name}: missing")),
        _labelled(columns, "close", close.why),
        pl.when(columns.text("amount").is_null()).then(
            pl.lit(f"{amount_name}: missing (a won deal without an amount)")
        ),
        _labelled(columns, "amount", amount.why),
        primary_why,
        company_why,
        contact_why,
        pl.when(customer.is_null() & primary_why.is_null() & company_why.is_null() & contact_why.is_null()).then(
            pl.lit(f"{assoc_name}: no associated company or contact (export the deals with their associations)")
        ),
    )
    rows = frame.select(
        pl.col(LINE).alias(_conform.ROW),
        record.alias("order_id"),
        customer.alias("customer_id"),
        close.value.alias("ordered_at"),
        amount.value.alias("amount"),
        currency.alias("currency"),
        columns.text("deal_name").alias("deal_name"),
        columns.text("pipeline").alias("pipeline"),
        stage.alias("deal_stage"),
        pl.coalesce(pl.col(PROBLEM), record_why, policy, problems).alias(WHY),
        close.needs_zone.alias("_needs_zone"),
    ).collect()
    return rows.drop("_needs_zone"), bool(rows["_needs_zone"].any())


def read_file(path: Path, options: HubSpotOptions) -> Part:
    """The customers or orders of one HubSpot export."""
    grid = read_grid(
        path,
        source=SOURCE,
        encoding=options.encoding,
        recognise=lambda header: recognise(header, options.mapping) is not None,
        not_mine="not a HubSpot export: expected a contacts, companies or deals export (a header starting with "
        "'Record ID', with 'Email' / 'First Name' for contacts, 'Company name' for companies, 'Deal Stage' for deals); "
        "a header in another language can be mapped with mapping=",
    )
    columns = Columns.of(grid.header, NAMES, options.mapping)
    kind = kind_of(columns)
    assert kind is not None  # the grid was read because the header was recognised
    missing = [names for names in _REQUIRED[kind] if not any(columns.has(n) for n in names)]
    if missing:
        shown = ", ".join(" or ".join(repr(NAMES[n][0]) for n in names) for names in missing)
        raise SourceError(
            f"this HubSpot {kind} export lacks the column(s) {shown}: add them to the exported view (or export all "
            "properties and associations)",
            file=path,
            source=SOURCE,
        )
    if kind == "deals":
        rows, needs_zone = _deals(grid, columns, options)
        table = "orders"
    else:
        rows, needs_zone = _customers(grid, columns, kind, options)
        table = "customers"
    if needs_zone:
        raise SourceError(
            "HubSpot writes times in your account's time zone without an offset ('2024-03-01 10:00'): pass "
            "tz='America/New_York' (the time zone of Settings > Account Defaults) to read them",
            file=path,
            source=SOURCE,
        )
    if table == "orders":
        no_currency = rows.filter(pl.col(WHY).is_null() & pl.col("currency").is_null()).height
        if no_currency:
            raise SourceError(
                f"{no_currency} closed-won deal(s) have no currency (no 'Currency' column, or a blank one): pass "
                "currency='USD' (your HubSpot account's currency)",
                file=path,
                source=SOURCE,
            )
    return Part(file=path, table=table, rows=rows)
