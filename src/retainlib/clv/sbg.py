"""The shifted-Beta-Geometric (sBG) model of contractual retention (Fader & Hardie 2007).

Each customer of a cohort churns at the end of any period with probability
``theta`` (a geometric lifetime, ``T = 1, 2, ...``); across customers ``theta`` is
Beta(alpha, beta).  With ``B`` the beta function::

    P(T = t)   = B(alpha + 1, beta + t - 1) / B(alpha, beta)           churn in period t
    S(t)       = P(T > t) = B(alpha, beta + t) / B(alpha, beta)        survival (S(0) = 1)
    r(t)       = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1)    retention rate, t >= 1
    E[T]       = sum_{t >= 0} S(t) = (alpha + beta - 1) / (alpha - 1)  (infinite when alpha <= 1)

The model is fitted on the survivor counts of one cohort, ``n_0 >= n_1 >= ... >= n_k``
(``n_t`` customers still alive at the end of period ``t``; ``n_0`` is the cohort
size) by maximising::

    log L = sum_{t=1}^{k} (n_{t-1} - n_t) log P(T = t) + n_k log S(k)

Discounted expected residual lifetime (Fader & Hardie 2010, eq. 6) of a customer
who has made ``n - 1`` renewals (``T > n - 1``): the expected number of its
further renewals, the next one undiscounted and each later one discounted by
``1 + d`` per period::

    DERL(d | n - 1 renewals) = sum_{t >= n} P(T > t | T > n - 1) / (1 + d)^(t - n)
                             = (beta + n - 1) / (alpha + beta + n - 1)
                               * 2F1(1, beta + n; alpha + beta + n; 1 / (1 + d))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Self

import attrs
import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.special import betaln, digamma

from retainlib.clv._base import TimeUnit
from retainlib.clv._model import ADVICE, CLVModel, Likelihood
from retainlib.errors import ConvergenceError, OptionError, SchemaError

__all__ = ["ShiftedBetaGeometric", "survivor_counts"]

Array = npt.NDArray[np.float64]
_MODEL = "ShiftedBetaGeometric"
_NAMES = ("alpha", "beta")


#: What the sBG fits on: one cohort's survivor counts (see :func:`survivor_counts`).
Survivors = Sequence[float] | npt.ArrayLike | pl.DataFrame | pl.LazyFrame


def survivor_counts(
    survivors: Survivors,
    *,
    cohort_size: float | None = None,
) -> Array:
    """The survivor counts ``n_0, n_1, ..., n_k`` of one cohort, checked.

    ``survivors`` is one of:

    * a sequence (or array) of the numbers alive at the end of periods ``0..k``
      (``n_0`` is the cohort size);
    * the same as *percentages* of the cohort when ``cohort_size`` is given
      (the first value must then be 100): ``[100, 63.1, 46.8, ...]`` with
      ``cohort_size=1000``;
    * a polars frame with columns ``period_number`` and ``active`` for one cohort,
      as :func:`retainlib.cohort_retention` returns with ``kind="rolling"`` (a
      customer counts as alive in period k when active in k or later).  Rows
      with ``is_complete`` false are dropped; a ``cohort`` column with more than one
      value is an error (filter one cohort first).

    Raises :class:`OptionError` when the counts are not finite, not positive at
    period 0, increase, or hold fewer than two periods.
    """
    if isinstance(survivors, pl.LazyFrame):
        survivors = survivors.collect()
    if isinstance(survivors, pl.DataFrame):
        frame = survivors
        for column in ("period_number", "active"):
            if column not in frame.columns:
                raise SchemaError(
                    f"{_MODEL} needs columns period_number and active (retainlib.cohort_retention); missing {column}",
                    table="cohort_retention",
                    column=column,
                    expected="present",
                    actual=None,
                )
        if "cohort" in frame.columns and frame["cohort"].n_unique() > 1:
            raise OptionError(
                f"{_MODEL} fits one cohort; the frame holds {frame['cohort'].n_unique()}: filter one cohort",
                option="survivors",
                value=frame["cohort"].n_unique(),
            )
        if "is_complete" in frame.columns:
            frame = frame.filter(pl.col("is_complete"))
        frame = frame.sort("period_number")
        periods = frame["period_number"].to_numpy()
        if periods.size == 0 or not np.array_equal(periods, np.arange(periods.size)):
            raise OptionError(
                f"{_MODEL}: period_number must run 0, 1, 2, ... without gaps; got {periods.tolist()[:10]}",
                option="survivors",
                value=periods.tolist()[:10],
            )
        counts = frame["active"].cast(pl.Float64).to_numpy()
    else:
        counts = np.asarray(survivors, dtype=np.float64).ravel()
    if cohort_size is not None:
        if not (math.isfinite(cohort_size) and cohort_size > 0):
            raise OptionError("cohort_size must be positive", option="cohort_size", value=cohort_size)
        if counts.size == 0 or not math.isclose(counts[0], 100.0):
            raise OptionError(
                "with cohort_size the survivors are percentages of the cohort, starting at 100",
                option="survivors",
                value=counts[:1].tolist(),
            )
        counts = counts / 100.0 * cohort_size
    if counts.size < 2:
        raise OptionError(
            f"{_MODEL} needs survivors for at least periods 0 and 1; got {counts.size} value(s)",
            option="survivors",
            value=counts.tolist(),
        )
    if not np.all(np.isfinite(counts)) or counts[0] <= 0 or np.any(counts < 0):
        raise OptionError(
            f"{_MODEL}: survivor counts must be finite and >= 0 with a positive cohort size",
            option="survivors",
            value=counts.tolist()[:10],
        )
    if np.any(np.diff(counts) > 1e-9 * counts[0]):
        raise OptionError(
            f"{_MODEL}: survivor counts increase ({counts.tolist()[:10]}); survival cannot grow "
            "(use cohort_retention(kind='rolling'), not 'classic')",
            option="survivors",
            value=counts.tolist()[:10],
        )
    return counts


def _log_likelihood(params: Array, counts: Array) -> float:
    alpha, beta = params
    if not min(alpha, beta) > 0:
        return -math.inf
    t = np.arange(1, counts.size, dtype=np.float64)
    churned = counts[:-1] - counts[1:]
    log_b = betaln(alpha, beta)
    log_churn = betaln(alpha + 1, beta + t - 1) - log_b
    log_alive = betaln(alpha, beta + t[-1]) - log_b
    churn_term = float(np.dot(churned[churned > 0], log_churn[churned > 0]))
    alive_term = float(counts[-1] * log_alive) if counts[-1] > 0 else 0.0
    return churn_term + alive_term


def _dbetaln(x: float | Array, y: float | Array) -> tuple[Array, Array]:
    """(d/dx, d/dy) of log B(x, y)."""
    both = digamma(np.add(x, y))
    return np.asarray(digamma(x) - both), np.asarray(digamma(y) - both)


def _gradient(params: Array, counts: Array) -> Array:
    alpha, beta = params
    if not min(alpha, beta) > 0:
        return np.full(2, np.nan)
    t = np.arange(1, counts.size, dtype=np.float64)
    churned = counts[:-1] - counts[1:]
    da0, db0 = _dbetaln(alpha, beta)
    da1, db1 = _dbetaln(alpha + 1, beta + t - 1)
    da2, db2 = _dbetaln(alpha, beta + t[-1])
    d_alpha = np.dot(churned, da1 - da0) + counts[-1] * (da2 - da0)
    d_beta = np.dot(churned, db1 - db0) + counts[-1] * (db2 - db0)
    return np.array([float(d_alpha), float(d_beta)])


@attrs.frozen(kw_only=True)
class ShiftedBetaGeometric(CLVModel[Survivors]):
    """sBG retention model; ``ShiftedBetaGeometric().fit(survivors)`` returns a fitted copy.

    Attributes:
        result: the fit (``alpha``, ``beta``, standard errors, log-likelihood, AIC), ``None`` before fitting.
            ``result.customers`` is the cohort size (rounded) and ``result.unit`` the period length, if given.

    Examples
    --------
    >>> model = ShiftedBetaGeometric().fit([100, 63.1, 46.8, 38.2, 32.6, 28.9, 26.2, 24.1], cohort_size=1000)
    >>> round(model.params["alpha"], 3), round(model.params["beta"], 3)
    (0.704, 1.182)
    >>> model.predict(range(8, 10))["survival"].round(3).to_list()
    [0.22, 0.204]
    """

    name: ClassVar[str] = _MODEL
    param_names: ClassVar[tuple[str, ...]] = _NAMES

    def fit(
        self,
        data: Survivors,
        *,
        unit: TimeUnit | None = None,
        cohort_size: float | None = None,
    ) -> Self:
        """Fit by maximum likelihood on one cohort's survivors (shapes: :func:`survivor_counts`).

        ``unit`` (optional) records the period length; ``cohort_size`` reads the
        survivors as percentages.  Raises :class:`OptionError` for bad counts and
        :class:`ConvergenceError` when the likelihood has no interior maximum: when
        nobody churned, when everybody churned in period 1, or when the counts
        cannot tell the two parameters apart (see :meth:`CLVModel.fit`).
        """
        return self._fit(self._likelihood(survivor_counts(data, cohort_size=cohort_size)), unit)

    def _likelihood(self, data: Survivors) -> Likelihood:
        counts = survivor_counts(data)
        if counts[-1] >= counts[0]:
            raise ConvergenceError(
                "nobody churned, so the churn rate cannot be estimated (the likelihood grows as alpha -> 0); " + ADVICE,
                model=_MODEL,
                detail=f"survivors {counts.tolist()[:10]}",
            )
        if counts[1] <= 0:
            raise ConvergenceError(
                "the whole cohort churned in period 1, so every churn probability is 1 and alpha / beta cannot "
                "be estimated (the likelihood grows as beta -> 0); " + ADVICE,
                model=_MODEL,
                detail=f"survivors {counts.tolist()[:10]}",
            )
        return Likelihood(
            log_likelihood=lambda theta: _log_likelihood(theta, counts),
            gradient=lambda theta: _gradient(theta, counts),
            starts=[(1.0, 1.0), (0.5, 2.0), (2.0, 0.5), (5.0, 20.0)],
            customers=round(counts[0]),
            # Customers differ by when they churned (or that they did not): one group each.
            distinct=int(np.count_nonzero(-np.diff(counts))) + (counts[-1] > 0),
            summary="lifetime",
        )

    def _ab(self) -> tuple[float, float]:
        alpha, beta = self._theta()
        return alpha, beta

    def predict(self, periods: int | Sequence[int] | npt.ArrayLike) -> pl.DataFrame:
        """Survival, retention rate and churn probability for the given periods.

        ``periods`` is a count ``k`` (periods ``0..k-1``) or a sequence of whole
        periods ``t >= 0``.  Columns: ``period``, ``survival`` S(t),
        ``retention_rate`` r(t) = S(t)/S(t-1) (null at t = 0) and
        ``churn_probability`` P(T = t) (0 at t = 0).
        """
        t = np.arange(periods, dtype=np.float64) if isinstance(periods, int) else np.asarray(periods, np.float64)
        t = t.ravel()
        if not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(t != np.floor(t)):
            raise OptionError("periods must be whole numbers >= 0", option="periods", value=t.tolist()[:10])
        alpha, beta = self._ab()
        log_b = betaln(alpha, beta)
        survival = np.exp(betaln(alpha, beta + t) - log_b)
        later = t >= 1
        churn = np.zeros_like(t)
        churn[later] = np.exp(betaln(alpha + 1, beta + t[later] - 1) - log_b)
        retention = np.full_like(t, np.nan)
        retention[later] = (beta + t[later] - 1) / (alpha + beta + t[later] - 1)
        return pl.DataFrame(
            {
                "period": t.astype(np.int64),
                "survival": survival,
                "retention_rate": pl.Series(retention).fill_nan(None),
                "churn_probability": churn,
            }
        )

    def expected_lifetime(self, horizon: int | None = None) -> float:
        """Expected lifetime in periods, ``sum_{t >= 0} S(t)``.

        Without ``horizon`` this is ``(alpha + beta - 1) / (alpha - 1)``, and
        ``math.inf`` when ``alpha <= 1`` (heavy-tailed lifetimes: the mean does not
        exist).  With ``horizon = h`` it is the mean lifetime truncated at ``h``
        periods, ``sum_{t=0}^{h-1} S(t)``, always finite.
        """
        alpha, beta = self._ab()
        if horizon is None:
            return (alpha + beta - 1) / (alpha - 1) if alpha > 1 else math.inf
        if horizon < 0:
            raise OptionError("horizon must be >= 0", option="horizon", value=horizon)
        return float(self.predict(horizon)["survival"].sum())

    def discounted_expected_residual_lifetime(self, discount_rate: float, renewals: int = 0) -> float:
        """DERL: discounted expected number of further renewals of a customer who has made ``renewals``.

        ``sum_{t >= n} P(T > t | T > n - 1) / (1 + d)^(t - n)`` with ``n = renewals + 1``
        (Fader & Hardie 2010, eq. 6): the next renewal counts undiscounted,
        each later one is discounted by ``1 + discount_rate`` per period.
        Multiply by the margin per period to get the residual value.
        """
        if not (math.isfinite(discount_rate) and discount_rate > 0):
            raise OptionError("discount_rate must be > 0 (per period)", option="discount_rate", value=discount_rate)
        if renewals < 0:
            raise OptionError("renewals must be >= 0", option="renewals", value=renewals)
        alpha, beta = self._ab()
        # The series itself: term_k = P(T > n + k | T > n - 1) / (1 + d)^k; consecutive terms shrink by at
        # least 1 / (1 + d), so e^-40 of the first term is reached within 40 / log(1 + d) terms.  (scipy's
        # hyp2f1 returns NaN for large beta + n, so the closed form is not used.)
        terms = math.ceil(40 / math.log1p(discount_rate)) + 1
        if terms > 50_000_000:
            raise OptionError(
                "discount_rate is too small for a finite sum (use at least 1e-6 per period)",
                option="discount_rate",
                value=discount_rate,
            )
        k = np.arange(terms, dtype=np.float64)
        base = beta + renewals
        log_ratio = np.log(base + k) - np.log(alpha + base + k) - math.log1p(discount_rate)
        log_terms = np.cumsum(log_ratio) + math.log1p(discount_rate)
        return float(np.exp(log_terms).sum())
