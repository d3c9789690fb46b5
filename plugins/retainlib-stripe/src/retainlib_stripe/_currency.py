"""Minor units per currency: how many decimal places an amount of the Stripe API has.

Stripe's API gives every amount as an integer in the currency's minor unit.  The
number of places is the ISO 4217 exponent, with the deviations Stripe documents
(https://docs.stripe.com/currencies#zero-decimal): Stripe treats ``MGA`` as
zero-decimal (ISO: 2) and ``ISK`` as two-decimal (ISO: 0, amounts ending in 00).
Every other currency not listed has 2 places.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import polars as pl

from retainlib.tables import CURRENCY_PATTERN, MONEY, MONEY_DIGITS, MONEY_LIMIT

__all__ = ["DEFAULT_EXPONENT", "EXPONENTS", "OUT_OF_RANGE", "as_money", "exponent", "places", "to_major"]

#: Places of a currency not listed below.
DEFAULT_EXPONENT = 2

_ISO_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"  # ISO 4217 exponent 0
_ISO_THREE = "BHD IQD JOD KWD LYD OMR TND"  # ISO 4217 exponent 3
_ISO_FOUR = "CLF UYW"  # ISO 4217 exponent 4
#: Stripe's own deviations from ISO 4217.
STRIPE_DEVIATIONS = {"MGA": 0, "ISK": 2}

#: Currency (upper case) -> decimal places of its minor unit, for the currencies that do not have 2.
EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_ISO_ZERO.split(), 0),
    **dict.fromkeys(_ISO_THREE.split(), 3),
    **dict.fromkeys(_ISO_FOUR.split(), 4),
    **STRIPE_DEVIATIONS,
}
EXPONENTS = {code: places for code, places in EXPONENTS.items() if places != DEFAULT_EXPONENT}


#: The reason (after the column) of an amount outside retainlib's money (``retainlib.tables.MONEY_LIMIT``).
OUT_OF_RANGE = f"out of range (at most {MONEY_DIGITS} integer digits)"
_QUANTUM = Decimal(1).scaleb(-MONEY.scale)


def exponent(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit in Stripe's API (``JPY`` 0, ``USD`` 2, ``KWD`` 3)."""
    return EXPONENTS.get(currency.upper(), DEFAULT_EXPONENT)


def to_major(minor: int | Decimal, currency: str) -> Decimal:
    """An amount in minor units as an exact Decimal in major units: ``to_major(1999, 'usd') == Decimal('19.99')``."""
    amount = Decimal(minor)
    with localcontext(prec=max(len(amount.as_tuple().digits), 28)):  # exact, however many digits
        return amount.scaleb(-exponent(currency))


def as_money(major: Decimal) -> Decimal | None:
    """``major`` rounded half-even to 4 places; ``None`` when not finite or not below ``MONEY_LIMIT`` (10**20)."""
    if not major.is_finite() or abs(major) >= MONEY_LIMIT:
        return None
    with localcontext(prec=MONEY.precision):  # room for the 20 integer digits and the 4 places
        rounded = major.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
    return rounded if abs(rounded) < MONEY_LIMIT else None


def places(currency: pl.Expr, known: pl.Expr | None = None) -> pl.Expr:
    """Decimal places an amount in ``currency`` (an upper-case code) may have: its minor unit's, at most 4.

    A code that is not one (``"DOLLARS"``, null) allows 4, what ``MONEY`` holds: such a row is rejected
    for its currency anyway.  ``known``, when given, says whether ``currency`` is a well-formed code
    (a column computed once), instead of matching the code again.
    """
    if known is None:
        known = currency.str.contains(CURRENCY_PATTERN.pattern).fill_null(False)
    found = currency.replace_strict(
        list(EXPONENTS),
        [min(p, MONEY.scale) for p in EXPONENTS.values()],
        default=DEFAULT_EXPONENT,
        return_dtype=pl.Int64,
    )
    return pl.when(known).then(found).otherwise(pl.lit(MONEY.scale, dtype=pl.Int64))
