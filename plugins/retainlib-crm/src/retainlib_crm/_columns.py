"""Finding the fields a source reads among a header's columns, by name, never by position.

A field (``"id"``, ``"amount"``...) has names: the export's English label,
the API name, and labels of other languages.  Names are compared as *keys*:
lower case, spaces collapsed, a byte-order mark dropped (``Record ID``,
``record id`` and ``RECORD  ID`` are one name).  A user's ``mapping`` renames
header columns first (``{"Datensatz-Nr.": "Record ID"}``).

**Repeated columns.**  HubSpot can write a column name twice (``Billing
Contact``), and two names of one field can both be present (``Email`` and
``E-Mail``).  The first column is read; a row whose later column holds a
different non-blank value (ignoring case) is rejected with that reason (the two values
disagree, so which one is right cannot be told), and a row where they agree,
or the later one is blank, reads as if the column were there once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import attrs
import polars as pl

from retainlib_crm._csvfile import cell
from retainlib_crm._values import clean

__all__ = ["Columns", "key"]


def key(name: str) -> str:
    """A column name as compared: no byte-order mark, lower case, runs of white space as one space."""
    return re.sub(r"\s+", " ", name.replace("\ufeff", "").strip().lower())


@attrs.frozen(kw_only=True)
class Columns:
    """The fields of one kind of export found in a header.

    Attributes:
        header: the header's column names, as written.
        found: field -> the positions of the columns holding it (the first is read).
    """

    header: tuple[str, ...]
    found: Mapping[str, tuple[int, ...]]

    @classmethod
    def of(
        cls, header: Sequence[str], names: Mapping[str, Iterable[str]], mapping: Mapping[str, str] | None = None
    ) -> Columns:
        """Find the fields ``names`` (field -> its names) in ``header``, after the user's ``mapping``."""
        renames = {key(k): key(v) for k, v in (mapping or {}).items()}
        keys = [renames.get(key(h), key(h)) for h in header]
        found: dict[str, tuple[int, ...]] = {}
        for field, aliases in names.items():
            wanted = {key(a) for a in aliases}
            positions = tuple(i for i, k in enumerate(keys) if k in wanted)
            if positions:
                found[field] = positions
        return cls(header=tuple(header), found=found)

    def has(self, field: str) -> bool:
        """Whether the header holds ``field``."""
        return field in self.found

    def name(self, field: str, default: str = "") -> str:
        """The header's name of ``field`` (the first column holding it), else ``default``."""
        positions = self.found.get(field)
        return self.header[positions[0]].strip() if positions else default

    def prepare(self) -> list[pl.Expr]:
        """The cleaned text of every field found, as the columns :meth:`text` reads (add them first)."""
        return [clean(pl.col(cell(positions[0]))).alias(f"_t_{field}") for field, positions in self.found.items()]

    def text(self, field: str) -> pl.Expr:
        """The field's cleaned text (stripped, blank as null; see :meth:`prepare`); null when the header lacks it."""
        if field not in self.found:
            return pl.lit(None, dtype=pl.String)
        return pl.col(f"_t_{field}")

    def conflicts(self, fields: Iterable[str]) -> list[pl.Expr]:
        """For each of ``fields`` (those read) held by several columns: why a row's copies disagree (null when
        they agree).  Repeated columns of fields not read are left alone."""
        reasons: list[pl.Expr] = []
        for field in fields:
            positions = self.found.get(field, ())
            if len(positions) < 2:
                continue
            first = clean(pl.col(cell(positions[0]))).str.to_lowercase()
            copies = [clean(pl.col(cell(p))).str.to_lowercase() for p in positions[1:]]
            differ = pl.any_horizontal(c.is_not_null() & (first.is_null() | (c != first)) for c in copies)
            shown = self.name(field)
            reasons.append(
                pl.when(differ).then(
                    pl.lit(
                        f"{shown}: the header has {len(positions)} columns for this field and this row's values "
                        "differ (which one is right cannot be told)"
                    )
                )
            )
        return reasons
