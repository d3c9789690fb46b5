"""Discounted customer lifetime value for the transaction models (BG/NBD, MBG/NBD, Pareto/NBD...).

:func:`customer_lifetime_value` turns a fitted transaction model (anything with
``result.unit`` and ``conditional_expected_purchases(rfm_frame, t)``) and an
expected spend per purchase into a discounted value per customer.

Conventions
-----------
* The horizon is cut into intervals of ``interval`` (one month by default,
  the mean Gregorian month of :data:`MEAN_MONTH_DAYS`); the last interval is
  shortened when the horizon is not a whole number of intervals.
* Expected purchases in interval *k* are ``E[Y(t_k) | x, t_x, T] - E[Y(t_{k-1}) | x, t_x, T]``
  (differences of the model's conditional expectation at the interval ends,
  ``t_0 = 0``, times in the model's unit counted from the end of calibration).
* Each interval's value is purchases × spend per purchase × ``margin``,
  discounted *at the interval's end*: the factor is ``(1 + r) ** -(t_k / P)``
  where ``r`` is the rate given per period ``P`` (``discount_rate=(0.1, "year")``
  is 10 % a year; a month is then discounted by ``1.1 ** (1/12)``, the exact
  conversion, never ``0.1 / 12``).
* ``spend`` is a number (the same for everyone), the name of a column of the
  RFM frame holding each customer's expected spend per purchase, or a fitted
  spend model with ``conditional_expected_average_profit(rfm_frame)`` returning
  a frame with an ``expected_spend`` column in the same row order (Gamma-Gamma).
  Negative, NaN or infinite spend is an :class:`~retainlib.errors.OptionError`;
  a *missing* (null) spend gives a null value for that customer (a spend model
  may leave customers it cannot score without a value).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs
import numpy as np
import numpy.typing as npt
import polars as pl

from retainlib.clv._base import FitResult, TimeUnit, UnitName, nonnegative, rfm_arrays
from retainlib.clv._model import CLVModel, RFMInput
from retainlib.errors import OptionError, SchemaError

Array = npt.NDArray[np.float64]

__all__ = [
    "RFMModel",
    "RFMTransactionModel",
    "SpendModel",
    "TransactionModel",
    "customer_lifetime_value",
    "key_columns",
    "with_keys",
]

#: The numeric columns of :func:`retainlib.rfm`; predictions keep the other (key) columns.
_RFM_VALUES = frozenset(
    {"frequency", "recency", "T", "monetary_value", "frequency_holdout", "monetary_value_holdout", "duration_holdout"}
)


@runtime_checkable
class TransactionModel(Protocol):
    """What :func:`customer_lifetime_value` needs from a fitted transaction model."""

    @property
    def result(self) -> FitResult | None: ...

    def conditional_expected_purchases(self, rfm_frame: pl.DataFrame | pl.LazyFrame, t: float) -> pl.DataFrame:
        """Per row of ``rfm_frame`` (same order): key columns and ``expected_purchases`` = E[Y(t) | x, t_x, T]."""
        ...


@runtime_checkable
class RFMModel(Protocol):
    """A transaction model whose predictions depend on (frequency, recency, T) alone.

    See :class:`RFMTransactionModel`.
    """

    def distinct_purchases_by_time(
        self, rfm_frame: pl.DataFrame, ends: npt.NDArray[np.float64]
    ) -> tuple[Array, npt.NDArray[np.uint32]]:
        """E[Y(t) | x, t_x, T] per distinct (x, t_x, T) and ``t`` of ``ends``; each customer's distinct row."""
        ...


@attrs.frozen(kw_only=True)
class RFMTransactionModel(CLVModel[RFMInput]):
    """What BG/NBD, MBG/NBD and Pareto/NBD share beyond :class:`CLVModel`: reading (frequency, recency, T)
    rows for predictions, a ``customer_lifetime_value`` method, and expected purchases computed once per
    distinct (x, t_x, T) row for all horizons at once.

    Subclasses provide ``_conditional(t, x, t_x, T)`` (E[Y(t) | x, t_x, T]).
    """

    def _conditional(self, t: float, x: Array, tx: Array, T: Array) -> Array:
        """E[Y(t) | x, t_x, T] per row, at the fitted parameters."""
        raise NotImplementedError

    def _alive(self, x: Array, tx: Array, T: Array) -> Array:
        """P(alive at T | x, t_x, T) per row, at the fitted parameters."""
        raise NotImplementedError

    def expected_purchases(self, t: float | Sequence[float] | npt.ArrayLike) -> pl.DataFrame:
        """E[X(t)]: expected repeat purchases of a new customer in (0, t]; columns ``t``, ``expected_purchases``."""
        raise NotImplementedError

    def conditional_expected_purchases(self, rfm_frame: pl.DataFrame | pl.LazyFrame, t: float) -> pl.DataFrame:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` units, per row (key columns kept)."""
        (t_value,) = nonnegative(t, "t")
        keys, x, tx, T = self._rows(rfm_frame)
        return with_keys(keys, expected_purchases=self._conditional(float(t_value), x, tx, T))

    def probability_alive(self, rfm_frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
        """P(alive at T | x, t_x, T) per row (key columns kept)."""
        keys, x, tx, T = self._rows(rfm_frame)
        return with_keys(keys, probability_alive=self._alive(x, tx, T))

    def _rows(self, rfm_frame: pl.DataFrame | pl.LazyFrame) -> tuple[pl.DataFrame, Array, Array, Array]:
        """(key columns, x, t_x, T) of an RFM frame, in input order, after the checks of :func:`rfm_arrays`."""
        frame = rfm_frame.collect() if isinstance(rfm_frame, pl.LazyFrame) else rfm_frame
        rfm_arrays(frame, model=self.name)
        x, tx, T = (frame.get_column(c).cast(pl.Float64).to_numpy() for c in ("frequency", "recency", "T"))
        return frame.select(key_columns(frame)), x, tx, T

    def expected_purchases_by_time(self, rfm_frame: pl.DataFrame, ends: npt.NDArray[np.float64]) -> Array:
        """E[Y(t) | x, t_x, T] for each ``t`` of ``ends``: customers x horizons.

        Customers sharing (x, t_x, T) share every prediction, so each distinct
        row is computed once (about 40 % of the rows of a daily RFM summary of
        millions of customers) and the results gathered back.
        """
        table, index = self.distinct_purchases_by_time(rfm_frame, ends)
        out: Array = table[index]
        return out

    def distinct_purchases_by_time(
        self, rfm_frame: pl.DataFrame, ends: npt.NDArray[np.float64]
    ) -> tuple[Array, npt.NDArray[np.uint32]]:
        """E[Y(t) | x, t_x, T] per distinct (x, t_x, T) row and horizon, and each customer's distinct row."""
        _, x, tx, T = self._rows(rfm_frame)
        rows = pl.DataFrame({"x": x, "tx": tx, "T": T})
        distinct = rows.unique(maintain_order=True).with_row_index("_u")
        index = rows.join(distinct, on=["x", "tx", "T"], how="left", maintain_order="left").get_column("_u")
        ux, utx, uT = (distinct.get_column(c).to_numpy() for c in ("x", "tx", "T"))
        conditional = self._conditional
        table = np.empty((ux.size, len(ends)))
        for j, t in enumerate(ends):
            table[:, j] = conditional(float(t), ux, utx, uT)
        return table, index.to_numpy()

    def customer_lifetime_value(
        self,
        rfm_frame: pl.DataFrame | pl.LazyFrame,
        *,
        spend: float | str | SpendModel,
        horizon: tuple[float, UnitName] = (12, "month"),
        discount_rate: tuple[float, UnitName] = (0.1, "year"),
        margin: float = 1.0,
        interval: tuple[float, UnitName] = (1, "month"),
        intervals: bool = False,
    ) -> pl.DataFrame:
        """Discounted expected value per customer (see :func:`retainlib.clv._value.customer_lifetime_value`)."""
        _ = self.fitted
        return customer_lifetime_value(
            self,
            rfm_frame,
            spend=spend,
            horizon=horizon,
            discount_rate=discount_rate,
            margin=margin,
            interval=interval,
            intervals=intervals,
        )


@runtime_checkable
class SpendModel(Protocol):
    """A fitted spend model (Gamma-Gamma): expected spend per purchase, per row of the RFM frame."""

    def conditional_expected_average_profit(self, rfm_frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame: ...


def key_columns(frame: pl.DataFrame | pl.LazyFrame) -> list[str]:
    """The columns a prediction keeps from its input: ``customer_id`` and the ``by`` columns of :func:`retainlib.rfm`.

    These are the columns before ``frequency`` (where :func:`retainlib.rfm` puts
    its keys) plus ``customer_id`` wherever it is.
    """
    names = frame.collect_schema().names()
    keys = names[: names.index("frequency")] if "frequency" in names else []
    keys = [k for k in keys if k not in _RFM_VALUES]
    if "customer_id" in names and "customer_id" not in keys:
        keys.append("customer_id")
    return keys


def with_keys(keys: pl.DataFrame, **columns: pl.Series | npt.NDArray[np.float64]) -> pl.DataFrame:
    """``keys`` (possibly without columns) with ``columns`` added (same height)."""
    series = [pl.Series(name, values) for name, values in columns.items()]
    if keys.width == 0:
        return pl.DataFrame(series)
    return keys.with_columns(series)


def _spend_per_row(frame: pl.DataFrame, spend: float | str | SpendModel) -> pl.Series:
    if isinstance(spend, str):
        if spend not in frame.columns:
            raise SchemaError(
                f"the spend column {spend!r} is not in the RFM frame",
                table="rfm",
                column=spend,
                expected="present",
                actual=None,
            )
        values = frame.get_column(spend).cast(pl.Float64, strict=False)
    elif isinstance(spend, SpendModel):
        predicted = spend.conditional_expected_average_profit(frame)
        if "expected_spend" not in predicted.columns or predicted.height != frame.height:
            raise OptionError(
                "the spend model must return one row per RFM row with an 'expected_spend' column",
                option="spend",
                value=type(spend).__name__,
            )
        values = predicted.get_column("expected_spend").cast(pl.Float64, strict=False)
    elif isinstance(spend, (int, float)) and not isinstance(spend, bool):
        values = pl.Series("spend", [float(spend)] * frame.height, dtype=pl.Float64)
    else:
        raise OptionError("spend must be a number, a column name or a fitted spend model", option="spend", value=spend)
    bad = values.is_nan() | values.is_infinite() | (values < 0)
    count = int(bad.fill_null(False).sum())
    if count:
        raise OptionError(
            f"{count} expected spend value(s) are negative, NaN or infinite; clean or exclude those customers",
            option="spend",
            value=spend if isinstance(spend, (int, float, str)) else type(spend).__name__,
        )
    return values


def _amount(pair: tuple[float, UnitName], option: str, *, positive: bool = True) -> tuple[float, UnitName]:
    try:
        amount, unit = pair
    except (TypeError, ValueError):
        raise OptionError(f"{option} must be (amount, unit), e.g. (12, 'month')", option=option, value=pair) from None
    if not isinstance(amount, (int, float)) or not math.isfinite(amount) or (positive and amount <= 0):
        raise OptionError(f"{option} amount must be a finite positive number", option=option, value=pair)
    return float(amount), unit


def customer_lifetime_value(
    model: TransactionModel,
    rfm_frame: pl.DataFrame | pl.LazyFrame,
    *,
    spend: float | str | SpendModel,
    horizon: tuple[float, UnitName] = (12, "month"),
    discount_rate: tuple[float, UnitName] = (0.1, "year"),
    margin: float = 1.0,
    interval: tuple[float, UnitName] = (1, "month"),
    intervals: bool = False,
) -> pl.DataFrame:
    """Discounted expected value of each customer's purchases over ``horizon`` (see the module's conventions).

    Parameters
    ----------
    model
        A fitted transaction model whose fit knows its time unit (``fit(..., unit=...)``).
    rfm_frame
        The customers (columns of :func:`retainlib.rfm`).
    spend
        Expected spend per purchase: a number, a column name, or a fitted Gamma-Gamma model.
    horizon, interval
        ``(amount, unit)``: how far ahead, and the length of each discounting interval.
    discount_rate
        ``(rate, unit)``: e.g. ``(0.1, "year")`` for 10 % a year; ``rate > -1``.
    margin
        Profit margin applied to spend.
    intervals
        ``False``: one row per customer (key columns + ``clv``).  ``True``: one
        row per customer and interval: ``interval`` (1, 2...), ``t_end`` (the
        interval's end in the model's unit), ``expected_purchases`` (in the
        interval), ``discount_factor`` and ``clv`` (the interval's discounted
        value; they sum to the total).

    Examples
    --------
    >>> from retainlib.clv import BetaGeo, TimeUnit  # doctest: +SKIP
    >>> model = BetaGeo().fit(summary, unit=TimeUnit.of("D", 7))  # doctest: +SKIP
    >>> model.customer_lifetime_value(summary, spend=35.0)  # doctest: +SKIP
    """
    result = model.result
    if result is None:
        raise OptionError("the model is not fitted; call fit() first", option="model", value=type(model).__name__)
    unit: TimeUnit | None = result.unit
    if unit is None:
        raise OptionError(
            "the model has no time unit: fit it with unit=TimeUnit.of(...) to convert horizons and rates",
            option="unit",
            value=None,
        )
    h_amount, h_unit = _amount(horizon, "horizon")
    i_amount, i_unit = _amount(interval, "interval")
    rate, rate_unit = _amount(discount_rate, "discount_rate", positive=False)
    if rate <= -1:
        raise OptionError("discount_rate must be greater than -1", option="discount_rate", value=discount_rate)
    if not isinstance(margin, (int, float)) or not math.isfinite(margin):
        raise OptionError("margin must be a finite number", option="margin", value=margin)
    total = unit.convert(h_amount, h_unit)
    step = unit.convert(i_amount, i_unit)
    period = unit.convert(1.0, rate_unit)  # one rate period in model units
    count = max(1, math.ceil(total / step - 1e-9))
    ends = np.minimum(np.arange(1, count + 1, dtype=np.float64) * step, total)
    factors = np.exp(-np.log1p(rate) * ends / period)

    frame = rfm_frame.collect() if isinstance(rfm_frame, pl.LazyFrame) else rfm_frame
    per_purchase = _spend_per_row(frame, spend) * float(margin)
    keys = frame.select(key_columns(frame))
    if isinstance(model, RFMModel):
        table, index = model.distinct_purchases_by_time(frame, ends)
        if not intervals:  # the discounted sum per distinct (x, t_x, T), then gathered to the customers
            steps = np.diff(table, axis=1, prepend=0.0)
            return with_keys(keys, clv=pl.Series("clv", (steps @ factors)[index]) * per_purchase)
        by_time = table[index]
    else:
        by_time = np.column_stack(
            [
                model.conditional_expected_purchases(frame, float(t)).get_column("expected_purchases").to_numpy()
                for t in ends
            ]
        )
    cumulative = np.column_stack([np.zeros(frame.height), by_time])
    purchases = np.diff(cumulative, axis=1)  # rows: customers, columns: intervals
    if not intervals:
        return with_keys(keys, clv=pl.Series("clv", purchases @ factors) * per_purchase)
    n = frame.height
    rows = np.repeat(np.arange(n), count)
    long_keys = keys[rows] if keys.width else keys
    return with_keys(
        long_keys,
        interval=pl.Series("interval", np.tile(np.arange(1, count + 1), n), dtype=pl.Int64),
        t_end=np.tile(ends, n),
        expected_purchases=purchases.reshape(-1),
        discount_factor=np.tile(factors, n),
        clv=pl.Series("clv", purchases.reshape(-1) * np.tile(factors, n)) * per_purchase.gather(rows),
    )
