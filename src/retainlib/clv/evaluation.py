"""How well a fitted transaction model predicts: calibration/holdout table and tracking plot.

Two classic checks of the buy-till-you-die models (Fader, Hardie & Lee 2005;
the BTYD walkthrough), for :class:`~retainlib.clv.BetaGeo`,
:class:`~retainlib.clv.ModifiedBetaGeo` and :class:`~retainlib.clv.ParetoNBD`
(anything with ``conditional_expected_purchases`` / ``expected_purchases``):

* :func:`calibration_holdout`: customers grouped by their calibration
  frequency ``x`` (``0 .. max_frequency - 1`` and ``max_frequency+``); per
  group the mean *actual* holdout purchases against the mean *predicted*
  ``E[Y(τ) | x, t_x, T]`` over each customer's holdout length ``τ`` =
  ``duration_holdout`` (the columns of ``retainlib.rfm(..., holdout_end=...)``).
* :func:`tracking`: cumulative repeat transactions of the calibration cohort
  over calendar time, actual against ``Σ_i E[X(t - b_i)]`` (each customer's
  expected repeat purchases since their birth ``b_i``, the day of their first
  order).
* :func:`plot_calibration_holdout` and :func:`plot_tracking` draw them on a
  :class:`matplotlib.figure.Figure` (never shown, no pyplot, no GUI backend);
  they need the ``retainlib[plot]`` extra.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs
import numpy as np
import numpy.typing as npt
import polars as pl

from retainlib.clv._base import FitResult, TimeUnit, rfm_arrays
from retainlib.errors import MissingExtraError, OptionError, SchemaError
from retainlib.metrics._common import Data, prepare

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CalibrationHoldout",
    "calibration_holdout",
    "plot_calibration_holdout",
    "plot_tracking",
    "tracking",
]

Array = npt.NDArray[np.float64]
_HOLDOUT_COLUMNS: Final = ("frequency", "recency", "T", "frequency_holdout", "duration_holdout")


class _ConditionalModel(Protocol):
    @property
    def result(self) -> FitResult | None: ...

    def conditional_expected_purchases(self, rfm_frame: pl.DataFrame | pl.LazyFrame, t: float) -> pl.DataFrame: ...


class _UnconditionalModel(Protocol):
    @property
    def result(self) -> FitResult | None: ...

    def expected_purchases(self, t: npt.ArrayLike) -> pl.DataFrame: ...


def _name(model: object) -> str:
    return type(model).__name__


def _check_fitted(model: _ConditionalModel | _UnconditionalModel) -> FitResult:
    result = getattr(model, "result", None)
    if not isinstance(result, FitResult):
        raise OptionError(
            f"{_name(model)} is not fitted; call fit() first (or from_params()/from_json())",
            option="model",
            value=_name(model),
        )
    return result


# --------------------------------------------------------------------------- calibration / holdout
@attrs.frozen(kw_only=True)
class CalibrationHoldout:
    """A calibration/holdout comparison (see :func:`calibration_holdout`).

    Attributes:
        bins: one row per calibration-frequency bin, in order: ``bin`` (String:
            ``"0"``, ``"1"``, ..., ``"7+"``), ``frequency_min`` (Int64, the bin's
            lowest frequency), ``customers`` (Int64), ``actual`` and ``predicted``
            (mean holdout purchases per customer), ``actual_total`` and
            ``predicted_total`` (sums), ``error`` (``predicted - actual``, means).
            Empty bins are kept with ``customers = 0`` and null means.
        overall: the same columns for all customers together (``bin = "all"``).
        max_frequency: the first frequency of the open-ended last bin.
        customers: number of customers.
        actual_total, predicted_total: holdout purchases of all customers, actual and predicted.
        bin_mae: mean absolute error of the bin means, over the non-empty bins (unweighted,
            as read off the plot).
        customer_mae, customer_rmse: mean absolute and root mean squared error per customer
            (``E[Y(τ_i) | ...] - x*_i``).
    """

    bins: pl.DataFrame
    overall: pl.DataFrame
    max_frequency: int
    customers: int
    actual_total: float
    predicted_total: float
    bin_mae: float
    customer_mae: float
    customer_rmse: float

    @property
    def total_error(self) -> float:
        """Relative error of the total: ``predicted_total / actual_total - 1`` (``inf`` without actual purchases)."""
        if self.actual_total == 0:
            return math.inf if self.predicted_total else 0.0
        return self.predicted_total / self.actual_total - 1.0


def _holdout_frame(rfm_frame: pl.DataFrame | pl.LazyFrame, model: str) -> pl.DataFrame:
    frame = rfm_frame.collect() if isinstance(rfm_frame, pl.LazyFrame) else rfm_frame
    missing = [c for c in _HOLDOUT_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(
            "calibration_holdout needs the columns of retainlib.rfm(..., holdout_end=...) "
            f"({', '.join(_HOLDOUT_COLUMNS)}); missing {', '.join(missing)}",
            table="rfm",
            column=missing[0],
            expected="present",
            actual=None,
        )
    rfm_arrays(frame, model=model)  # the calibration invariants, with clear errors
    hold = frame.select(pl.col("frequency_holdout", "duration_holdout").cast(pl.Float64, strict=False))
    bad = hold.select(
        pl.any_horizontal(pl.all().is_null() | pl.all().is_nan() | (pl.all() < 0)).sum()
        + (pl.col("frequency_holdout") != pl.col("frequency_holdout").floor()).fill_null(False).sum()
    ).item()
    if bad:
        raise OptionError(
            f"{bad} row(s) have a missing, negative or fractional frequency_holdout, or a bad duration_holdout",
            option="rfm",
            value=bad,
        )
    return frame


def calibration_holdout(
    model: _ConditionalModel, rfm_frame: pl.DataFrame | pl.LazyFrame, *, max_frequency: int = 7
) -> CalibrationHoldout:
    """Actual vs predicted holdout purchases by calibration frequency (the "conditional expectations" check).

    Parameters
    ----------
    model
        A fitted :class:`~retainlib.clv.BetaGeo`, :class:`~retainlib.clv.ModifiedBetaGeo` or
        :class:`~retainlib.clv.ParetoNBD` (fitted on the calibration columns of ``rfm_frame``).
    rfm_frame
        The output of ``retainlib.rfm(orders, ..., observation_end=..., holdout_end=...)``:
        ``frequency``, ``recency``, ``T`` (calibration), ``frequency_holdout`` (the actual
        holdout purchases ``x*``) and ``duration_holdout`` (the holdout length ``τ``, in the
        model's unit).
    max_frequency
        Bins are ``x = 0, 1, ..., max_frequency - 1`` and ``x >= max_frequency``.

    Returns
    -------
    CalibrationHoldout
        Per-bin and overall frames plus error measures.  A customer's prediction is
        ``E[Y(τ_i) | x_i, t_x,i, T_i]``; bin means are plain means over the bin's customers.

    Examples
    --------
    >>> ch = calibration_holdout(model, summary)  # doctest: +SKIP
    >>> ch.bins  # doctest: +SKIP
    """
    if isinstance(max_frequency, bool) or not isinstance(max_frequency, int) or max_frequency < 1:
        raise OptionError("max_frequency is a positive integer", option="max_frequency", value=max_frequency)
    _check_fitted(model)
    frame = _holdout_frame(rfm_frame, _name(model))
    frame = frame.with_row_index("_row")
    predicted = np.zeros(frame.height)
    for (duration,), group in frame.group_by("duration_holdout"):
        rows = group["_row"].to_numpy()
        values = model.conditional_expected_purchases(group.drop("_row"), float(duration))
        predicted[rows] = values.get_column("expected_purchases").to_numpy()
    actual = frame["frequency_holdout"].cast(pl.Float64).to_numpy()
    frequency = frame["frequency"].cast(pl.Int64).to_numpy()
    lows = np.minimum(frequency, max_frequency)
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]

    per_customer = pl.DataFrame({"frequency_min": lows, "actual": actual, "predicted": predicted})
    grid = pl.DataFrame({"bin": labels, "frequency_min": np.arange(max_frequency + 1, dtype=np.int64)})

    summary = [
        pl.len().cast(pl.Int64).alias("customers"),
        pl.col("actual").mean(),
        pl.col("predicted").mean(),
        pl.col("actual").sum().alias("actual_total"),
        pl.col("predicted").sum().alias("predicted_total"),
    ]

    sums = per_customer.group_by("frequency_min").agg(summary)
    bins = (
        grid.join(sums, on="frequency_min", how="left")
        .with_columns(
            pl.col("customers").fill_null(0),
            pl.col("actual_total", "predicted_total").fill_null(0.0),
            (pl.col("predicted") - pl.col("actual")).alias("error"),
        )
        .sort("frequency_min")
    )
    overall = (
        per_customer.select(summary)
        .select(pl.lit("all").alias("bin"), pl.lit(None, dtype=pl.Int64).alias("frequency_min"), pl.all())
        .with_columns((pl.col("predicted") - pl.col("actual")).alias("error"))
    )
    errors = bins.filter(pl.col("customers") > 0)["error"].abs()
    diff = predicted - actual
    n = frame.height
    return CalibrationHoldout(
        bins=bins,
        overall=overall,
        max_frequency=max_frequency,
        customers=n,
        actual_total=float(actual.sum()),
        predicted_total=float(predicted.sum()),
        bin_mae=float(errors.mean()) if errors.len() else math.nan,  # type: ignore[arg-type]
        customer_mae=float(np.abs(diff).mean()) if n else math.nan,
        customer_rmse=float(math.sqrt(np.mean(diff**2))) if n else math.nan,
    )


# --------------------------------------------------------------------------- tracking
def tracking(
    model: _UnconditionalModel,
    orders: Data,
    *,
    calibration_end: dt.date,
    end: dt.date,
    start: dt.date | None = None,
    unit: TimeUnit | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """Cumulative repeat transactions of the calibration cohort, actual vs the model, period by period.

    Parameters
    ----------
    model
        A fitted transaction model (``expected_purchases(t)``: ``E[X(t)]`` of a new customer).
    orders
        A canonical orders table (DataFrame, LazyFrame or Dataset) with ``customer_id`` and
        ``ordered_at``; only orders up to ``end`` are used.
    calibration_end
        Last day of the calibration period: the cohort is the customers whose first
        order is on or before it (those of ``retainlib.rfm(..., observation_end=calibration_end)``).
    end
        Last day tracked (the holdout end, typically).
    start
        Day 0 of the time axis; default: the cohort's first order day.
    unit
        Length of one period and the model's time unit; default: the unit the model was
        fitted with (``fit(..., unit=...)``).  It must be the model's unit.
    tz
        Time zone whose local days the orders are counted in (as in :func:`retainlib.rfm`).

    Conventions (BTYD's ``cu.tracking`` and ``bgnbd.ExpectedCumulativeTransactions``)
    ---------------------------------------------------------------------------------
    Orders are reduced to one per customer and local day (same-day orders merged, as
    ``rfm(freq="D")``); a customer's first day is their birth and the rest are repeat
    transactions.  Time is counted in ``unit`` from ``start``: a day ``d`` sits at
    ``(d - start).days / unit.days`` and a customer's birth at
    ``b_i = (first_day_i - start).days / unit.days``.  Period ``k = 1, 2, ...`` ends at
    ``t_k = k`` units; it covers the days with ``(d - start).days < k · unit.days``, and
    there are as many periods as fit whole between ``start`` and ``end``.

    * ``actual`` at ``t_k``: the cohort's repeat transactions on days before ``t_k``
      (including the holdout days after ``calibration_end``);
    * ``predicted`` at ``t_k``: ``Σ_i E[X(t_k - b_i)]`` over the customers born before ``t_k``.

    Returns
    -------
    polars.DataFrame
        One row per period: ``period`` (Int64, k), ``t`` (Float64, ``t_k`` in units),
        ``period_end`` (Date, the period's last day), ``holdout`` (Boolean: the period ends
        after ``calibration_end``), ``actual`` and ``predicted`` (cumulative), and
        ``actual_in_period`` and ``predicted_in_period`` (their increments).
    """
    result = _check_fitted(model)
    unit = unit if unit is not None else result.unit
    if unit is None:
        raise OptionError(
            "tracking needs the model's time unit: fit it with unit=TimeUnit.of(...) or pass unit=",
            option="unit",
            value=None,
        )
    if result.unit is not None and abs(result.unit.days - unit.days) > 1e-12:
        raise OptionError(
            f"unit {unit} is not the unit the model was fitted in ({result.unit})", option="unit", value=unit
        )
    for name, value in (("calibration_end", calibration_end), ("end", end), ("start", start)):
        if value is not None and (not isinstance(value, dt.date) or isinstance(value, dt.datetime)):
            raise OptionError(f"{name} is a date (a whole local day)", option=name, value=value)
    if end < calibration_end:
        raise OptionError("end must not be before calibration_end", option="end", value=end)

    p = prepare(orders, metric="tracking", tables=("orders",), period="day", tz=tz)
    days = (
        p.frame.select("customer_id", p.calendar.local_date("ordered_at").alias("_day"))
        .filter(pl.col("_day") <= end)
        .unique()
        .with_columns(pl.col("_day").min().over("customer_id").alias("_birth"))
        .filter(pl.col("_birth") <= calibration_end)
        .collect()
    )
    if days.height == 0:
        raise OptionError(
            "no customer made a first order on or before calibration_end",
            option="calibration_end",
            value=calibration_end,
        )
    first_day: dt.date = days["_birth"].min()  # type: ignore[assignment]
    origin = start if start is not None else first_day
    if origin > first_day:
        raise OptionError(
            f"start ({origin}) is after the cohort's first order ({first_day})", option="start", value=origin
        )
    step = unit.days
    periods = math.floor(((end - origin).days + 1) / step + 1e-9)
    if periods < 1:
        raise OptionError(f"no whole period of {unit} between start and end", option="end", value=end)
    base = pl.lit(origin, dtype=pl.Date)
    offsets = days.select(
        (pl.col("_day") - base).dt.total_days().alias("day"),
        (pl.col("_birth") - base).dt.total_days().alias("birth"),
    )
    repeat_days = offsets.filter(pl.col("day") > pl.col("birth"))["day"].to_numpy().astype(np.float64)
    births = days.unique("customer_id").select((pl.col("_birth") - base).dt.total_days().alias("birth"))
    birth_values, birth_counts = np.unique(births["birth"].to_numpy().astype(np.float64), return_counts=True)

    ks = np.arange(1, periods + 1, dtype=np.float64)
    # a day d counts in period k when d < k * step (days), i.e. ceil-free: the number of days < k*step
    actual = np.searchsorted(np.sort(repeat_days), ks * step, side="left").astype(np.float64)
    elapsed = ks[:, None] - birth_values[None, :] / step  # in units
    positive = elapsed > 0
    unique_t, inverse = np.unique(elapsed[positive], return_inverse=True)
    expected = np.zeros_like(elapsed)
    if unique_t.size:
        values = model.expected_purchases(unique_t).get_column("expected_purchases").to_numpy()
        expected[positive] = values[inverse]
    predicted = expected @ birth_counts.astype(np.float64)
    period_end = [origin + dt.timedelta(days=math.ceil(k * step - 1e-9) - 1) for k in ks]
    return pl.DataFrame(
        {
            "period": np.arange(1, periods + 1, dtype=np.int64),
            "t": ks,
            "period_end": pl.Series(period_end, dtype=pl.Date),
            "holdout": [d > calibration_end for d in period_end],
            "actual": actual,
            "predicted": predicted,
            "actual_in_period": np.diff(actual, prepend=0.0),
            "predicted_in_period": np.diff(predicted, prepend=0.0),
        }
    )


# --------------------------------------------------------------------------- plots
def _figure_class() -> type[Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("matplotlib", "plot", feature="plotting") from None
    return Figure


def plot_calibration_holdout(result: CalibrationHoldout, *, title: str | None = None, **figure: Any) -> Figure:
    """Mean actual vs predicted holdout purchases per calibration-frequency bin (two lines on one axes).

    Returns a :class:`matplotlib.figure.Figure` (not shown; save it with
    ``fig.savefig(...)``).  ``figure`` keyword arguments go to ``Figure`` (e.g. ``figsize``).
    Needs matplotlib (``retainlib[plot]``); :class:`OptionError` otherwise.
    """
    figure_class = _figure_class()
    fig = figure_class(**figure)
    ax = fig.add_subplot()
    bins = result.bins.filter(pl.col("customers") > 0)
    x = np.arange(bins.height)
    ax.plot(x, bins["actual"].to_numpy(), marker="o", label="actual")
    ax.plot(x, bins["predicted"].to_numpy(), marker="s", linestyle="--", label="model")
    ax.set_xticks(x, bins["bin"].to_list())
    ax.set_xlabel("purchases in calibration period")
    ax.set_ylabel("mean purchases in holdout period")
    ax.set_title(title if title is not None else "Conditional expectations: calibration vs holdout")
    ax.legend()
    return fig


def plot_tracking(frame: pl.DataFrame, *, cumulative: bool = True, title: str | None = None, **figure: Any) -> Figure:
    """The tracking plot of :func:`tracking`: actual vs predicted repeat transactions over time.

    ``cumulative=True`` draws the cumulative series, ``False`` the per-period ones.  A
    vertical dotted line marks the end of calibration (when the frame has holdout
    periods).  Returns a :class:`matplotlib.figure.Figure` (never shown); needs
    matplotlib (``retainlib[plot]``).
    """
    figure_class = _figure_class()
    needed = ("t", "holdout", "actual", "predicted", "actual_in_period", "predicted_in_period")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"plot_tracking needs the frame of tracking(); missing {', '.join(missing)}",
            table="tracking",
            column=missing[0],
            expected="present",
            actual=None,
        )
    fig = figure_class(**figure)
    ax = fig.add_subplot()
    suffix = "" if cumulative else "_in_period"
    t = frame["t"].to_numpy()
    ax.plot(t, frame[f"actual{suffix}"].to_numpy(), label="actual")
    ax.plot(t, frame[f"predicted{suffix}"].to_numpy(), linestyle="--", label="model")
    calibration = frame.filter(~pl.col("holdout"))
    if calibration.height and calibration.height < frame.height:
        ax.axvline(float(calibration["t"][-1]), color="grey", linestyle=":", label="end of calibration")
    ax.set_xlabel("time (model units)")
    ax.set_ylabel("cumulative repeat transactions" if cumulative else "repeat transactions per period")
    ax.set_title(title if title is not None else "Tracking: actual vs model")
    ax.legend()
    return fig
