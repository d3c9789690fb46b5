"""The beta-geometric/beta-binomial (BG/BB) model for discrete opportunities (Fader, Hardie & Shang 2010).

Each period (opportunity) an alive customer transacts with probability ``p``
and, at the end of it, dies with probability ``theta``; across customers ``p`` is
Beta(alpha, beta) and ``theta`` is Beta(gamma, delta).  A customer is summarised by
``x`` transactions in ``n`` opportunities, the last one at opportunity ``t_x``
(``x = 0`` gives ``t_x = 0``).

Input columns (the names of :func:`retainlib.rfm` with a whole-number unit):
``frequency`` = x, ``recency`` = t_x and ``T`` = n, all whole numbers with
``0 <= x <= t_x <= n``.  An optional ``weight`` column gives how many customers
share the row (the compressed recency/frequency matrix of the papers, e.g.
``donations.csv`` with ``weights`` renamed); without it each row is one customer.

With ``B`` the beta function (FHS 2010, eq. 5)::

    L(x, t_x, n) = B(alpha + x, beta + n - x) / B(alpha, beta) * B(gamma, delta + n) / B(gamma, delta)
                 + sum_{i=0}^{n-t_x-1} B(alpha + x, beta + t_x - x + i) / B(alpha, beta)
                                      * B(gamma + 1, delta + t_x + i) / B(gamma, delta)

    P(alive in period n + 1 | x, t_x, n)
        = B(alpha + x, beta + n - x) / B(alpha, beta) * B(gamma, delta + n + 1) / B(gamma, delta) / L

    E[X(n, n + n*) | x, t_x, n]        (transactions in the next n* opportunities)
        = B(alpha + x + 1, beta + n - x) / B(alpha, beta) / L * sum_{t=1}^{n*} B(gamma, delta + n + t) / B(gamma, delta)

    E[X(n)] = alpha / (alpha + beta) * sum_{t=1}^{n} B(gamma, delta + t) / B(gamma, delta)     (a new customer)

The sums replace the papers' closed forms with ``delta / (gamma - 1)``, which are
singular at ``gamma = 1``; they are equal otherwise.  Everything is computed
with log-beta functions and ``logaddexp``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import attrs
import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.special import betaln, digamma, gammaln

from retainlib.clv._base import Rule, UnitName, nonnegative, rfm_arrays
from retainlib.clv._model import CLVModel, Likelihood, RFMInput
from retainlib.clv._value import SpendModel, _spend_per_row, key_columns, with_keys
from retainlib.errors import OptionError

__all__ = ["BetaGeoBetaBinom"]

Array = npt.NDArray[np.float64]
_MODEL = "BetaGeoBetaBinom"
_NAMES = ("alpha", "beta", "gamma", "delta")


#: BG/BB's invariants beyond those of every RFM summary (checked together with them).
_DISCRETE: list[Rule] = [
    *((c, "not a whole number (BG/BB counts opportunities)", pl.col(c) != pl.col(c).floor()) for c in ("recency", "T")),
    (
        "frequency",
        "frequency > recency (x transactions need x opportunities up to t_x)",
        pl.col("frequency") > pl.col("recency"),
    ),
]


def _check_discrete(frame: pl.DataFrame) -> tuple[Array, Array, Array]:
    """Columns x, t_x, n of the frame, in input order, with every invariant checked (one DataError)."""
    data = rfm_arrays(frame, model=_MODEL, compress=False, rules=_DISCRETE)
    return data.frequency, data.recency, data.T


def _compressed(data: pl.DataFrame | pl.LazyFrame) -> tuple[Array, Array, Array, Array]:
    """Unique (x, t_x, n) rows with a positive total weight, and their weights."""
    frame = data.collect() if isinstance(data, pl.LazyFrame) else data
    weight = "weight" if "weight" in frame.columns else None
    summary = rfm_arrays(frame, model=_MODEL, rules=_DISCRETE, weight=weight)
    keep = summary.weight > 0
    return summary.frequency[keep], summary.recency[keep], summary.T[keep], summary.weight[keep]


def _blocks(rows: int, gaps: Array) -> list[Array]:
    """Opportunity offsets 0..max(gaps)-1 in blocks small enough for a (rows x block) array."""
    top = int(gaps.max(initial=0))
    size = max(1, 2_000_000 // max(rows, 1))
    return [np.arange(start, min(start + size, top), dtype=np.float64) for start in range(0, top, size)]


def _log_likelihood_rows(params: Array, x: Array, tx: Array, n: Array) -> Array:
    """log L(x, t_x, n) per row."""
    alpha, beta, gamma, delta = params
    b_ab, b_gd = betaln(alpha, beta), betaln(gamma, delta)
    acc = betaln(alpha + x, beta + n - x) - b_ab + betaln(gamma, delta + n) - b_gd
    gaps = n - tx
    for i in _blocks(x.size, gaps):
        xs, base = x[:, None], (tx - x)[:, None] + i[None, :]
        term = betaln(alpha + xs, beta + base) + betaln(gamma + 1, delta + tx[:, None] + i[None, :]) - b_ab - b_gd
        term = np.where(i[None, :] < gaps[:, None], term, -np.inf)
        acc = np.logaddexp(acc, np.logaddexp.reduce(term, axis=1))
    out: Array = acc
    return out


def _dbetaln(a: float | Array, b: float | Array) -> tuple[Array, Array]:
    both = digamma(np.add(a, b))
    return np.asarray(digamma(a) - both), np.asarray(digamma(b) - both)


def _gradient(params: Array, x: Array, tx: Array, n: Array, w: Array) -> Array:
    """d log L / d (alpha, beta, gamma, delta): each term's gradient weighted by its share of L."""
    alpha, beta, gamma, delta = params
    log_l = _log_likelihood_rows(params, x, tx, n)
    da0, db0 = _dbetaln(alpha, beta)
    dg0, dd0 = _dbetaln(gamma, delta)
    b_ab, b_gd = betaln(alpha, beta), betaln(gamma, delta)

    da, db = _dbetaln(alpha + x, beta + n - x)
    dg, dd = _dbetaln(gamma, delta + n)
    share = np.exp(betaln(alpha + x, beta + n - x) - b_ab + betaln(gamma, delta + n) - b_gd - log_l)
    grad = np.stack([share * da, share * db, share * dg, share * dd])
    gaps = n - tx
    for i in _blocks(x.size, gaps):
        xs, base, seen = x[:, None], (tx - x)[:, None] + i[None, :], tx[:, None] + i[None, :]
        term = betaln(alpha + xs, beta + base) + betaln(gamma + 1, delta + seen) - b_ab - b_gd
        share = np.where(i[None, :] < gaps[:, None], np.exp(term - log_l[:, None]), 0.0)
        da, db = _dbetaln(alpha + xs, beta + base)
        dg, dd = _dbetaln(gamma + 1, delta + seen)
        grad += np.stack([(share * d).sum(axis=1) for d in (da, db, dg, dd)])
    grad -= np.array([da0, db0, dg0, dd0])[:, None]
    out: Array = grad @ w
    return out


@attrs.frozen(kw_only=True)
class BetaGeoBetaBinom(CLVModel[RFMInput]):
    """BG/BB model for discrete opportunities; ``BetaGeoBetaBinom().fit(rfm)`` returns a fitted copy.

    Attributes:
        result: the fit (``alpha``, ``beta``, ``gamma``, ``delta``, standard errors, log-likelihood, AIC),
            ``None`` before fitting.  ``result.unit`` is the length of one opportunity, if given.

    Examples
    --------
    >>> import polars as pl
    >>> rfm = pl.DataFrame({"frequency": [0, 1, 1, 1, 2, 2, 3], "recency": [0, 1, 2, 3, 2, 3, 3],
    ...                     "T": [3] * 7, "weight": [350, 128, 55, 42, 91, 106, 227]})
    >>> model = BetaGeoBetaBinom().fit(rfm)
    >>> {k: round(v, 2) for k, v in model.params.items()}
    {'alpha': 1.2, 'beta': 0.75, 'gamma': 0.64, 'delta': 2.75}
    >>> model.probability_alive(rfm.head(2)).columns
    ['probability_alive']
    """

    name: ClassVar[str] = _MODEL
    param_names: ClassVar[tuple[str, ...]] = _NAMES

    def _theta_array(self) -> Array:
        return np.array(self._theta())

    def _likelihood(self, data: pl.DataFrame | pl.LazyFrame) -> Likelihood:
        """The compressed (x, t_x, n) rows' likelihood and gradient (columns: see the module docs)."""
        x, tx, n, w = _compressed(data)

        def ll(theta: Array) -> float:
            if not np.all(theta > 0):
                return -math.inf
            return float(np.dot(w, _log_likelihood_rows(theta, x, tx, n)))

        def grad(theta: Array) -> Array:
            if not np.all(theta > 0):
                return np.full(4, np.nan)
            return _gradient(theta, x, tx, n, w)

        return Likelihood(
            log_likelihood=ll,
            gradient=grad,
            starts=[(1.0, 1.0, 1.0, 1.0), (1.0, 1.0, 0.5, 3.0), (2.0, 0.5, 2.0, 10.0)],
            customers=round(w.sum()),
            distinct=x.size,
            summary="(frequency, recency, T)",
        )

    def _rows(self, rfm_frame: pl.DataFrame | pl.LazyFrame) -> tuple[pl.DataFrame, Array, Array, Array]:
        frame = rfm_frame.collect() if isinstance(rfm_frame, pl.LazyFrame) else rfm_frame
        x, tx, n = _check_discrete(frame)
        keys = frame.select(k for k in key_columns(frame) if k != "weight")
        return keys, x, tx, n

    def _survival_sum(self, start: Array, periods: float) -> Array:
        """sum_{t=1}^{periods} B(gamma, delta + start + t) / B(gamma, delta), per entry of ``start``."""
        _, _, gamma, delta = self._theta_array()
        b_gd = betaln(gamma, delta)
        total = np.zeros_like(start)
        for t in range(1, int(periods) + 1):
            total += np.exp(betaln(gamma, delta + start + t) - b_gd)
        return total

    def probability_alive(self, rfm_frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
        """P(alive in period n + 1 | x, t_x, n) per row (key columns kept), FHS 2010 eq. 11."""
        keys, x, tx, n = self._rows(rfm_frame)
        theta = self._theta_array()
        alpha, beta, gamma, delta = theta
        log_alive = (
            betaln(alpha + x, beta + n - x)
            - betaln(alpha, beta)
            + betaln(gamma, delta + n + 1)
            - betaln(gamma, delta)
            - _log_likelihood_rows(theta, x, tx, n)
        )
        return with_keys(keys, probability_alive=np.minimum(np.exp(log_alive), 1.0))

    def conditional_expected_purchases(self, rfm_frame: pl.DataFrame | pl.LazyFrame, t: int) -> pl.DataFrame:
        """E[X(n, n + t) | x, t_x, n]: expected transactions in the next ``t`` opportunities, per row."""
        (periods,) = nonnegative(t, "t", integer=True)
        keys, x, tx, n = self._rows(rfm_frame)
        theta = self._theta_array()
        alpha, beta, _, _ = theta
        log_front = betaln(alpha + x + 1, beta + n - x) - betaln(alpha, beta) - _log_likelihood_rows(theta, x, tx, n)
        return with_keys(keys, expected_purchases=np.exp(log_front) * self._survival_sum(n, periods))

    def customer_lifetime_value(
        self,
        rfm_frame: pl.DataFrame | pl.LazyFrame,
        *,
        spend: float | str | SpendModel,
        horizon: int,
        discount_rate: float | tuple[float, UnitName],
        margin: float = 1.0,
        intervals: bool = False,
    ) -> pl.DataFrame:
        """Discounted expected value of each customer's transactions in the next ``horizon`` opportunities.

        The value of opportunity ``n + k`` is ``E[transactions in it | x, t_x, n] * spend * margin``
        discounted at its end by ``(1 + d) ** -k``.  ``discount_rate`` is either a number ``d`` per
        opportunity or ``(rate, unit)`` such as ``(0.1, "year")``, converted exactly with the unit of one
        opportunity given to :meth:`fit` (an :class:`OptionError` when the fit has no unit).  ``spend`` is a
        number, a column name or a fitted spend model, as for the other models.  Output as
        :func:`retainlib.clv._value.customer_lifetime_value`: key columns and ``clv``, or with
        ``intervals=True`` one row per customer and opportunity (``interval``, ``t_end``,
        ``expected_purchases``, ``discount_factor``, ``clv``).
        """
        (periods,) = nonnegative(horizon, "horizon", integer=True)
        if periods < 1:
            raise OptionError("horizon must be at least one opportunity", option="horizon", value=horizon)
        if isinstance(discount_rate, tuple):
            rate, rate_unit = discount_rate
            unit = self.fitted.unit
            if unit is None:
                raise OptionError(
                    "discount_rate in named units needs the length of one opportunity: fit(..., unit=...)",
                    option="discount_rate",
                    value=discount_rate,
                )
            per_rate_period = unit.convert(1.0, rate_unit)  # opportunities in one rate period
        else:
            rate, per_rate_period = float(discount_rate), 1.0
        if not (math.isfinite(rate) and rate > -1):
            raise OptionError("discount_rate must be a finite number > -1", option="discount_rate", value=rate)
        if not math.isfinite(margin):
            raise OptionError("margin must be a finite number", option="margin", value=margin)
        frame = rfm_frame.collect() if isinstance(rfm_frame, pl.LazyFrame) else rfm_frame
        keys, x, tx, n = self._rows(frame)
        per_purchase = _spend_per_row(frame, spend).to_numpy() * float(margin)
        theta = self._theta_array()
        alpha, beta, gamma, delta = theta
        log_front = betaln(alpha + x + 1, beta + n - x) - betaln(alpha, beta) - _log_likelihood_rows(theta, x, tx, n)
        k = np.arange(1, int(periods) + 1, dtype=np.float64)
        purchases = np.exp(log_front[:, None] + betaln(gamma, delta + n[:, None] + k[None, :]) - betaln(gamma, delta))
        factors = np.exp(-math.log1p(rate) * k / per_rate_period)
        if not intervals:
            return with_keys(keys, clv=(purchases @ factors) * per_purchase)
        count = k.size
        rows = np.repeat(np.arange(frame.height), count)
        return with_keys(
            keys[rows] if keys.width else keys,
            interval=pl.Series("interval", np.tile(k, frame.height), dtype=pl.Int64),
            t_end=np.tile(k, frame.height),
            expected_purchases=purchases.reshape(-1),
            discount_factor=np.tile(factors, frame.height),
            clv=purchases.reshape(-1) * np.tile(factors, frame.height) * per_purchase[rows],
        )

    def expected_purchases(self, t: int | Sequence[int] | npt.ArrayLike) -> pl.DataFrame:
        """E[X(t)]: expected transactions of a new customer in its first ``t`` opportunities.

        Columns ``t`` and ``expected_purchases``.
        """
        ts = nonnegative(t, "t", integer=True)
        alpha, beta, gamma, delta = self._theta_array()
        b_gd = betaln(gamma, delta)
        steps = np.arange(1, int(ts.max(initial=0)) + 1, dtype=np.float64)
        cumulative = np.concatenate([[0.0], np.cumsum(np.exp(betaln(gamma, delta + steps) - b_gd))])
        values = alpha / (alpha + beta) * cumulative[ts.astype(np.int64)]
        return pl.DataFrame({"t": ts.astype(np.int64), "expected_purchases": values})

    def probability_of_purchases(
        self, t: int | Sequence[int] | npt.ArrayLike, n: int | Sequence[int] | npt.ArrayLike
    ) -> pl.DataFrame:
        """P(X(t) = n): probability of ``n`` transactions in ``t`` opportunities for a new customer.

        One row per (t, n) pair (all combinations); columns t, n, probability (0 when n > t).  FHS 2010 eq. 7.
        """
        ts, ns = nonnegative(t, "t", integer=True), nonnegative(n, "n", integer=True)
        alpha, beta, gamma, delta = self._theta_array()
        b_ab, b_gd = betaln(alpha, beta), betaln(gamma, delta)
        tt, nn = (g.reshape(-1) for g in np.meshgrid(ts, ns, indexing="ij"))
        out = np.zeros_like(tt)
        possible = nn <= tt
        tp, np_ = tt[possible], nn[possible]

        def log_choose(a: Array, b: Array) -> Array:
            out_: Array = gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)
            return out_

        value = np.exp(
            log_choose(tp, np_) + betaln(alpha + np_, beta + tp - np_) - b_ab + betaln(gamma, delta + tp) - b_gd
        )
        for i in range(int(tp.max(initial=0))):
            on = (i >= np_) & (i < tp)
            i_arr = np.full_like(tp, float(i))
            safe_n = np.minimum(np_, i_arr)
            term = np.exp(
                log_choose(i_arr, safe_n)
                + betaln(alpha + np_, beta + np.maximum(i_arr - np_, 0.0))
                - b_ab
                + betaln(gamma + 1, delta + i_arr)
                - b_gd
            )
            value = value + np.where(on, term, 0.0)
        out[possible] = value
        return pl.DataFrame({"t": tt.astype(np.int64), "n": nn.astype(np.int64), "probability": out})
