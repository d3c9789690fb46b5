"""How well a fitted transaction model describes its customers: the repeat-purchase histogram."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from retainlib.errors import OptionError
from retainlib.plot._common import OKABE_ITO, collect, figure_and_axes, no_data, require, style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Customers with this many repeat purchases or more share the last bar ("7+"), as in Fader, Hardie & Lee (2005).
MAX_FREQUENCY: Final = 7
#: Above this many distinct ``T`` values, customers are grouped into this many groups of equal size by ``T``
#: (each group at its mean ``T``): the probabilities are smooth in ``T``, and some models compute each
#: probability by numerical integration.
T_GROUPS: Final = 200


def expected_histogram(model: Any, rfm: pl.DataFrame, max_frequency: int = MAX_FREQUENCY) -> npt.NDArray[np.float64]:
    """Expected customers with 0, 1, ..., ``max_frequency - 1`` and ``max_frequency+`` repeat purchases.

    ``Σ_i P(X(T_i) = n)`` over the customers, with ``P(X(t) = n)`` the model's
    ``probability_of_purchases`` (a new customer's number of repeat purchases in ``(0, t]``).
    """
    ages = rfm.select(pl.col("T").cast(pl.Float64)).drop_nulls()
    counts = ages.group_by("T").agg(customers=pl.len()).sort("T")
    if counts.height > T_GROUPS:
        counts = (
            ages.sort("T")
            .with_columns(group=(pl.int_range(pl.len()) * T_GROUPS // pl.len()))
            .group_by("group")
            .agg(pl.col("T").mean(), customers=pl.len())
            .sort("T")
        )
    if type(model).__name__ == "BetaGeoBetaBinom":  # discrete opportunities: whole periods
        counts = counts.with_columns(pl.col("T").round(0)).group_by("T").agg(pl.col("customers").sum()).sort("T")
    times = counts["T"].to_numpy()
    weights = counts["customers"].to_numpy().astype(np.float64)
    table = model.probability_of_purchases(times, list(range(max_frequency)))
    probabilities = table["probability"].to_numpy().reshape(len(times), max_frequency)
    expected = np.empty(max_frequency + 1)
    expected[:max_frequency] = weights @ probabilities
    expected[max_frequency] = float(weights.sum()) - float(expected[:max_frequency].sum())
    return expected


def clv_diagnostics(
    model: Any,
    rfm: pl.DataFrame | pl.LazyFrame,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """The calibration check of a fitted transaction model: customers by number of repeat purchases, actual vs model.

    Parameters
    ----------
    model
        A fitted :class:`~retainlib.clv.BetaGeo`, :class:`~retainlib.clv.ModifiedBetaGeo`,
        :class:`~retainlib.clv.ParetoNBD` or :class:`~retainlib.clv.BetaGeoBetaBinom` (anything with
        ``probability_of_purchases(t, n)``).
    rfm
        The RFM frame the model was fitted on (:func:`retainlib.rfm`; ``frequency`` and ``T`` are used).
    ax
        A matplotlib Axes to draw into (its figure is returned); by default a new figure.
    title
        The title; by default "Repeat purchases: actual vs <model>".

    Returns
    -------
    matplotlib.figure.Figure
        Side-by-side bars per number of repeat purchases in the calibration period (0 .. 6 and 7+): the
        customers who made that many (``frequency``), and the number the model expects,
        ``Σ_i P(X(T_i) = n)`` over the customers' ages ``T_i`` (above 200 distinct ages, customers are
        grouped into 200 equal groups by age).  Bars that differ a lot point to a model that does not
        describe these customers.

    Raises
    ------
    OptionError
        The model has no ``probability_of_purchases`` (Gamma-Gamma, shifted-Beta-Geometric) or is not fitted.
    SchemaError
        The RFM frame lacks ``frequency`` or ``T`` (all missing ones are named).
    """
    if not callable(getattr(model, "probability_of_purchases", None)):
        raise OptionError(
            f"clv_diagnostics needs a fitted transaction model (BetaGeo, ModifiedBetaGeo, ParetoNBD, "
            f"BetaGeoBetaBinom: anything with probability_of_purchases), got {type(model).__name__}",
            option="model",
            value=type(model).__name__,
        )
    frame = collect(rfm, option="rfm", kernel="rl.rfm")
    require(frame, {"frequency": "number", "T": "number"}, table="rfm", kernel="rl.rfm")
    name = type(model).__name__
    with style():
        fig, axes = figure_and_axes(ax, (8.0, 4.5))
        axes.set_title(title if title is not None else f"Repeat purchases: actual vs {name}")
        axes.set_xlabel("repeat purchases in the calibration period (frequency)")
        axes.set_ylabel("customers")
        if frame.height == 0:
            no_data(axes, "customers")
            return fig
        expected = expected_histogram(model, frame)
        capped = frame.select(pl.col("frequency").cast(pl.Int64).clip(0, MAX_FREQUENCY)).to_series()
        actual = np.bincount(capped.drop_nulls().to_numpy(), minlength=MAX_FREQUENCY + 1).astype(np.float64)
        x = np.arange(MAX_FREQUENCY + 1, dtype=np.float64)
        width = 0.4
        axes.bar(x - width / 2, actual, width=width, color=OKABE_ITO[0], label="actual", gid="actual")
        axes.bar(x + width / 2, expected, width=width, color=OKABE_ITO[1], label=f"model ({name})", gid="model")
        axes.set_xticks(x, [*(str(i) for i in range(MAX_FREQUENCY)), f"{MAX_FREQUENCY}+"])
        axes.legend(loc="upper right")
        axes.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        axes.set_axisbelow(True)
    return fig
