"""BG/NBD (Fader, Hardie & Lee 2005) and MBG/NBD (Batislam, Denizel & Filiztekin 2007) models.

Both describe a customer who buys at a Poisson rate ``λ ~ Gamma(r, α)`` while
alive and may drop out with probability ``p ~ Beta(a, b)``:

* BG/NBD (:class:`BetaGeo`): only right *after a repeat purchase*, so a
  customer with no repeat purchase is alive for sure.
* MBG/NBD (:class:`ModifiedBetaGeo`): also at time 0, right after the first
  purchase, so a customer with ``x = 0`` may already be gone.  Same parameter
  names (r, alpha, a, b) and the same data (x, t_x, T), as in lifetimes'
  ``ModifiedBetaGeoFitter``.

Likelihoods (``x`` = frequency, ``t_x`` = recency, ``T``), computed in log space
with ``logaddexp`` (Fader & Hardie 2013, note 027, "#NUM! error"), so that
``x`` in the thousands stays finite:

* BG/NBD: ``L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / Γ(r) · [(α+T)^-(r+x) + 1{x>0} a/(b+x-1) (α+t_x)^-(r+x)]``
* MBG/NBD: ``L = B(a, b+x+1)/B(a, b) · Γ(r+x) α^r / Γ(r) · [(α+T)^-(r+x) + a/(b+x) (α+t_x)^-(r+x)]``

Predictions (``z = t/(α+T+t)``; ``(1-z)^(r+x) ₂F₁(r+x, b+x; c; z)`` is computed
directly or after Euler's transformation, ``(1-z)^(a-1) ₂F₁(c-r-x, a-1; c; z)``,
whichever has the smaller upper parameters: the transformed series converges
quickly for ``x`` in the thousands, the direct one for large ``a``):

* BG/NBD ``E[Y(t)|x, t_x, T] = P(alive) · (a+b+x-1)/(a-1) · [1 - (1-z)^(a-1) ₂F₁(a+b-1-r, a-1; a+b+x-1; z)]``,
  with ``P(alive) = 1 / (1 + 1{x>0} a/(b+x-1) ((α+T)/(α+t_x))^(r+x))``;
  ``E[X(t)]`` is the same at ``x = t_x = T = 0``.
* MBG/NBD: ``c = a+b+x``, ``P(alive) = 1 / (1 + a/(b+x) ((α+T)/(α+t_x))^(r+x))``,
  ``E[Y(t)|...] = P(alive) · (a+b+x)/(a-1) · [1 - (1-z)^(a-1) ₂F₁(a+b-r, a-1; a+b+x; z)]``, and
  ``E[X(t)]`` is the same at ``x = t_x = T = 0``:
  ``b/(a-1) · [1 - (α/(α+t))^r ₂F₁(r, b+1; a+b; t/(α+t))]``.  Batislam et al.
  (2007) and lifetimes print the factor ``(b+1)/(a-1)``; ``b/(a-1)`` is what
  the MBG/NBD likelihood implies (it is ``E[Y(t) | x=0, t_x=0, T=0]``, the
  limit ``E[(1-p)/p]`` as ``t → ∞``, and ``Σ n P(X(t)=n)``; the tests check all three).
* ``P(X(t)=n)`` with ``NB(j) = Γ(r+j)/(Γ(r) j!) (α/(α+t))^r (t/(α+t))^j`` and
  ``S(n) = P(NB ≥ n) = I_{t/(α+t)}(n, r)``:
  BG/NBD ``B(a, b+n)/B(a,b) NB(n) + 1{n>0} B(a+1, b+n-1)/B(a,b) S(n)``;
  MBG/NBD ``B(a, b+n+1)/B(a,b) NB(n) + B(a+1, b+n)/B(a,b) S(n)`` (``S(0) = 1``).

The formulas for ``E`` divide by ``a - 1``: they hold for ``a < 1`` too (by
continuation); within 1e-4 of ``a = 1`` (a 0/0 there) they are interpolated
linearly between ``a = 1 ± 1e-4`` (relative error about 1e-8).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import attrs
import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import special

from retainlib.clv._base import RFMArrays, nonnegative, rfm_arrays, subsample, weight_column
from retainlib.clv._model import Likelihood
from retainlib.clv._value import RFMTransactionModel, with_keys
from retainlib.errors import OptionError

__all__ = ["BetaGeo", "ModifiedBetaGeo"]

Array = npt.NDArray[np.float64]
_NAMES: tuple[str, ...] = ("r", "alpha", "a", "b")
#: The expectations divide by a - 1; closer than this to a = 1 they are interpolated linearly in a.
_NEAR_ONE = 1e-4


def _tanh_sinh(step: float = 1 / 128, reach: float = 3.2) -> tuple[Array, Array, Array]:
    """Tanh-sinh nodes on (0, 1): (u, 1 - u, weight), accurate for endpoint-singular integrands."""
    s = np.arange(-reach, reach + step / 2, step)
    v = 0.5 * math.pi * np.sinh(s)
    weight = step * 0.5 * math.pi * np.cosh(s) / (2 * np.cosh(v) ** 2)
    return special.expit(2 * v), special.expit(-2 * v), weight


_NODES = _tanh_sinh()


def _given_alive_by_quadrature(a: float, b: Array, m: Array, k: Array) -> Array:
    """E[(1 - (1 + p k)^-m) / p] for p ~ Beta(a, b): expected purchases of a live customer, by quadrature.

    The fallback of the 2F1 formula: u = F(p) on tanh-sinh nodes, p = F^-1(u)
    (from the upper tail when u > 1/2, so that neither end loses precision).
    """
    u, v, weight = _NODES
    out: Array = np.empty(b.size)
    for start in range(0, b.size, 4096):  # chunks: ~820 nodes per row
        rows = slice(start, start + 4096)
        bb, mm, kk = b[rows, None], m[rows, None], k[rows, None]
        with np.errstate(all="ignore"):
            p = np.where(u <= 0.5, special.betaincinv(a, bb, u), 1.0 - special.betaincinv(bb, a, v))
            p = np.clip(p, 1e-300, 1.0)
            g = -np.expm1(-mm * np.log1p(p * kk)) / p
        out[rows] = g @ weight
    return out


@attrs.frozen(kw_only=True)
class _Data:
    """Rows (x, t_x, T, weight) with the distinct values of each column and the index back to them."""

    x: Array
    weight: Array
    x_values: Array
    x_index: npt.NDArray[np.intp]
    x_weight: Array
    tx_values: Array
    tx_index: npt.NDArray[np.intp]
    T_values: Array
    T_index: npt.NDArray[np.intp]

    @classmethod
    def of(cls, x: Array, tx: Array, T: Array, weight: Array | None = None) -> _Data:
        xv, xi = np.unique(x, return_inverse=True)
        tv, ti = np.unique(tx, return_inverse=True)
        Tv, Ti = np.unique(T, return_inverse=True)
        w = np.ones_like(x) if weight is None else weight
        xw = np.bincount(xi, w, minlength=xv.size).astype(np.float64)
        return cls(
            x=x, weight=w, x_values=xv, x_index=xi, x_weight=xw, tx_values=tv, tx_index=ti, T_values=Tv, T_index=Ti
        )

    @classmethod
    def from_rfm(cls, data: RFMArrays) -> _Data:
        return cls.of(data.frequency, data.recency, data.T, data.weight)


@attrs.frozen(kw_only=True)
class _BetaGeoFamily(RFMTransactionModel):
    """Shared code of BG/NBD and MBG/NBD (``_modified`` switches the time-0 dropout)."""

    starts: tuple[tuple[float, float, float, float], ...] | None = None

    name: ClassVar[str] = "BetaGeo"
    param_names: ClassVar[tuple[str, ...]] = _NAMES
    _modified: ClassVar[bool] = False

    # ------------------------------------------------------------------ fitting
    def _terms(self, theta: Array, d: _Data) -> tuple[Array, Array, Array]:
        """(A1 + A2 per distinct x, log first term per row, log second term per row) of the log-likelihood.

        Functions of x alone are computed once per distinct x, logs of alpha + T
        and alpha + t_x once per distinct value, then gathered.
        """
        r, alpha, a, b = theta
        shift = 1.0 if self._modified else 0.0
        ux = d.x_values
        on_x = np.ones_like(ux, dtype=bool) if self._modified else ux > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            base_x = (
                special.gammaln(r + ux)
                - special.gammaln(r)
                + r * np.log(alpha)
                + special.betaln(a, b + ux + shift)
                - special.betaln(a, b)
            )
            log_a_x = np.where(on_x, np.log(a) - np.log(np.where(on_x, b + ux - 1.0 + shift, 1.0)), -np.inf)
            rx = r + d.x
            first = -rx * np.log(alpha + d.T_values)[d.T_index]
            second = log_a_x[d.x_index] - rx * np.log(alpha + d.tx_values)[d.tx_index]
        return base_x, first, second

    def _individual_ll(self, theta: Array, x: Array, tx: Array, T: Array) -> Array:
        data = _Data.of(x, tx, T)
        with np.errstate(invalid="ignore"):
            base_x, first, second = self._terms(theta, data)
            out: Array = base_x[data.x_index] + np.logaddexp(first, second)
        return out

    def _ll(self, theta: Array, data: _Data, terms: tuple[Array, Array, Array] | None = None) -> float:
        with np.errstate(all="ignore"):
            base_x, first, second = self._terms(theta, data) if terms is None else terms
            return float(np.dot(data.x_weight, base_x) + np.dot(data.weight, np.logaddexp(first, second)))

    def _gradient(self, theta: Array, data: _Data, terms: tuple[Array, Array, Array] | None = None) -> Array:
        """d log L / d (r, alpha, a, b), analytic; per-row sums are folded onto distinct values with bincount."""
        r, alpha, a, b = theta
        shift = 1.0 if self._modified else 0.0
        ux, wx = data.x_values, data.x_weight
        with np.errstate(all="ignore"):
            _, first, second = self._terms(theta, data) if terms is None else terms
            w_dead = data.weight * special.expit(second - first)  # weight x share of the "dead at t_x" term
            w_alive = data.weight - w_dead
            at_T = np.bincount(data.T_index, w_alive, minlength=data.T_values.size)
            at_T_x = np.bincount(data.T_index, w_alive * data.x, minlength=data.T_values.size)
            at_tx = np.bincount(data.tx_index, w_dead, minlength=data.tx_values.size)
            at_tx_x = np.bincount(data.tx_index, w_dead * data.x, minlength=data.tx_values.size)
            dead_x = np.bincount(data.x_index, w_dead, minlength=ux.size)
            aT, atx = alpha + data.T_values, alpha + data.tx_values
            d_r = (
                np.dot(wx, special.digamma(r + ux) - special.digamma(r) + math.log(alpha))
                - np.dot(at_T, np.log(aT))
                - np.dot(at_tx, np.log(atx))
            )
            d_alpha = r / alpha * wx.sum() - np.sum((r * at_T + at_T_x) / aT) - np.sum((r * at_tx + at_tx_x) / atx)
            dg_all = special.digamma(a + b + ux + shift)
            d_a = np.dot(wx, special.digamma(a + b) - dg_all) + dead_x.sum() / a
            on_x = np.ones_like(ux, dtype=bool) if self._modified else ux > 0
            denom = np.where(on_x, b + ux - 1.0 + shift, 1.0)
            d_b = np.dot(wx, special.digamma(b + ux + shift) - special.digamma(b) + special.digamma(a + b) - dg_all)
            d_b -= np.dot(np.where(on_x, dead_x, 0.0), 1.0 / denom)
        return np.array([d_r, d_alpha, d_a, d_b], dtype=np.float64)

    def _default_starts(self, data: RFMArrays) -> list[tuple[float, float, float, float]]:
        if self.starts is not None:
            return [tuple(s) for s in self.starts]  # type: ignore[misc]
        scale = data.time_scale
        return [(1.0, 1.0, 1.0, 1.0), (0.5, scale / 4, 1.0, 3.0), (2.0, scale, 0.5, 1.0)]

    def _likelihood(self, data: pl.DataFrame | pl.LazyFrame) -> Likelihood:
        """The compressed RFM summary's likelihood, with its analytic gradient (see :meth:`CLVModel.fit`)."""
        summary = rfm_arrays(data, model=self.name, weight=weight_column(data))  # an RFM frame, or its statistics
        prepared = _Data.from_rfm(summary)

        # The optimiser asks for the likelihood and then the gradient at the same point:
        # the terms they share are computed once per point.
        memo: dict[bytes, tuple[Array, Array, Array]] = {}

        def terms(theta: Array) -> tuple[Array, Array, Array]:
            key = np.asarray(theta, dtype=np.float64).tobytes()
            if key not in memo:
                memo.clear()
                memo[key] = self._terms(theta, prepared)
            return memo[key]

        def ll(theta: Array) -> float:
            return self._ll(theta, prepared, terms(theta))

        def grad(theta: Array) -> Array:
            return self._gradient(theta, prepared, terms(theta))

        sample = subsample(summary)
        screen = None
        if sample is not None:
            small = _Data.from_rfm(sample)
            screen = (lambda theta: self._ll(theta, small), lambda theta: self._gradient(theta, small))
        return Likelihood(
            log_likelihood=ll,
            gradient=grad,
            starts=self._default_starts(summary),
            customers=summary.customers,
            distinct=summary.frequency.size,
            summary="(frequency, recency, T)",
            screen=screen,
            hessian_from_gradient=True,
        )

    # ------------------------------------------------------------- predictions
    def _log_alive_odds(self, x: Array, tx: Array, T: Array) -> Array:
        """log of (P(dead) / P(alive)) given (x, t_x, T)."""
        r, alpha, a, b = self._theta()
        shift = 1.0 if self._modified else 0.0
        on = np.ones_like(x, dtype=bool) if self._modified else x > 0
        denom = np.where(on, b + x - 1.0 + shift, 1.0)
        odds = math.log(a) - np.log(denom) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
        out: Array = np.where(on, odds, -np.inf)
        return out

    def _alive(self, x: Array, tx: Array, T: Array) -> Array:
        out: Array = special.expit(-self._log_alive_odds(x, tx, T))
        return out

    def _conditional(self, t: float | Array, x: Array, tx: Array, T: Array) -> Array:
        r, alpha, a, b = self._theta()
        shift = 1.0 if self._modified else 0.0

        def given_alive(a: float) -> Array:
            xb, zb = np.broadcast_arrays(np.asarray(x, dtype=np.float64), t / (alpha + T + t))
            xs, zs = xb.ravel(), zb.ravel()
            c = a + b + xs - 1.0 + shift
            log_rest = np.log1p(-zs)

            def tail_of(rows: npt.NDArray[np.intp], euler: bool) -> Array:
                # (1-z)^(r+x) 2F1(r+x, b+x+shift; c; z), directly or after Euler's transformation
                xr, cr, zr, lr = xs[rows], c[rows], zs[rows], log_rest[rows]
                with np.errstate(all="ignore"):
                    if euler:
                        out: Array = np.exp((a - 1.0) * lr) * special.hyp2f1(a + b - 1.0 + shift - r, a - 1.0, cr, zr)
                    else:
                        out = np.exp((r + xr) * lr) * special.hyp2f1(r + xr, b + xr + shift, cr, zr)
                return out

            # Each row takes the form with the smaller upper parameters (the faster, safer series),
            # and the other one only where that is not finite.
            use_euler = np.maximum(r + xs, b + xs + shift) > max(abs(a + b - 1.0 + shift - r), abs(a - 1.0))
            tail = np.empty(xs.shape)
            for euler in (True, False):
                rows = np.flatnonzero(use_euler == euler)
                tail[rows] = tail_of(rows, euler)
                failed = rows[~np.isfinite(tail[rows])]
                if failed.size:
                    tail[failed] = tail_of(failed, not euler)
            out: Array = (c / (a - 1.0) * (1.0 - tail)).reshape(xb.shape)
            return out

        if abs(a - 1.0) < _NEAR_ONE:  # 0/0 at a = 1: interpolate between a = 1 -/+ _NEAR_ONE (error ~1e-8)
            low, high = given_alive(1.0 - _NEAR_ONE), given_alive(1.0 + _NEAR_ONE)
            value = low + (a - 1.0 + _NEAR_ONE) / (2 * _NEAR_ONE) * (high - low)
        else:
            value = given_alive(a)
        tt, xx, TT = np.broadcast_arrays(np.asarray(t, dtype=np.float64), x, T)
        value = np.broadcast_to(value, tt.shape).copy()
        m, k = r + xx, tt / (alpha + TT)
        # E[Y | alive] lies in [0, m k]; where scipy's 2F1 fails (inf/NaN, or a wrong value outside
        # that range, as for some integer c - a - b near z = 1), integrate over p instead
        bad = ~np.isfinite(value) | (value < -1e-9 * m * k) | (value > m * k * (1 + 1e-9) + 1e-300)
        if np.any(bad):
            value[bad] = _given_alive_by_quadrature(a, b + xx[bad] + shift, m[bad], k[bad])
        if not np.all(np.isfinite(value)):
            raise OptionError(
                f"{self.name}: expected purchases cannot be evaluated at these parameters "
                f"(r={r:.3g}, alpha={alpha:.3g}, a={a:.3g}, b={b:.3g}); are they a degenerate fit?",
                option="params",
                value=self.params,
            )
        out: Array = np.where(tt == 0, 0.0, self._alive(xx, np.broadcast_to(tx, tt.shape), TT) * value)
        return out

    def expected_purchases(self, t: float | Sequence[float] | npt.ArrayLike) -> pl.DataFrame:
        """E[X(t)]: expected repeat purchases of a new customer in (0, t]; columns ``t``, ``expected_purchases``."""
        ts = nonnegative(t, "t")
        zero = np.zeros_like(ts)
        return pl.DataFrame({"t": ts, "expected_purchases": self._conditional(ts, zero, zero, zero)})

    def probability_of_purchases(
        self, t: float | Sequence[float] | npt.ArrayLike, n: int | Sequence[int] | npt.ArrayLike
    ) -> pl.DataFrame:
        """P(X(t) = n) for a new customer: one row per (t, n) pair (all combinations); columns t, n, probability."""
        r, alpha, a, b = self._theta()
        ts = nonnegative(t, "t")
        ns = nonnegative(n, "n", integer=True)
        tt, nn = (g.reshape(-1) for g in np.meshgrid(ts, ns, indexing="ij"))
        shift = 1.0 if self._modified else 0.0
        q = tt / (alpha + tt)
        with np.errstate(divide="ignore"):
            log_nb = (
                special.gammaln(r + nn)
                - special.gammaln(r)
                - special.gammaln(nn + 1)
                + r * (math.log(alpha) - np.log(alpha + tt))
                + special.xlogy(nn, q)
            )
        base = special.betaln(a, b)
        alive = np.exp(special.betaln(a, b + nn + shift) - base + log_nb)
        if self._modified:
            tail = np.where(nn > 0, special.betainc(np.maximum(nn, 1.0), r, q), 1.0)
            dead = np.exp(special.betaln(a + 1, b + nn) - base) * tail
        else:
            tail = np.where(nn > 0, special.betainc(np.maximum(nn, 1.0), r, q), 0.0)
            dead = np.exp(special.betaln(a + 1, np.maximum(b + nn - 1, b)) - base) * tail
        return pl.DataFrame({"t": tt, "n": nn.astype(np.int64), "probability": alive + dead})

    def log_likelihood(self, rfm_frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
        """Each row's log-likelihood at the fitted parameters (key columns kept)."""
        keys, x, tx, T = self._rows(rfm_frame)
        theta = np.asarray(self._theta())
        return with_keys(keys, log_likelihood=self._individual_ll(theta, x, tx, T))


@attrs.frozen(kw_only=True)
class BetaGeo(_BetaGeoFamily):
    """The BG/NBD model (Fader, Hardie & Lee 2005): dropout only right after a repeat purchase.

    ``BetaGeo()`` is unfitted; ``BetaGeo().fit(summary, unit=TimeUnit.of("D", 7))``
    returns a fitted copy with ``params`` (r, alpha, a, b) and ``result``
    (:class:`~retainlib.clv.FitResult`: standard errors, log-likelihood, AIC).

    Attributes:
        starts: starting points (r, alpha, a, b) for the optimiser; ``None`` uses three defaults.
        result: the fit (``None`` before :meth:`fit`).

    Examples
    --------
    >>> from retainlib.clv.bgnbd import BetaGeo
    >>> model = BetaGeo.from_params(0.243, 4.414, 0.793, 2.426)
    >>> round(model.expected_purchases(39)["expected_purchases"][0], 3)
    1.197
    """

    name: ClassVar[str] = "BetaGeo"
    _modified: ClassVar[bool] = False


@attrs.frozen(kw_only=True)
class ModifiedBetaGeo(_BetaGeoFamily):
    """The MBG/NBD model (Batislam et al. 2007): like BG/NBD, plus a possible dropout right after the first purchase.

    Same parameters (r, alpha, a, b) and API as :class:`BetaGeo`; a customer
    without repeat purchases has ``P(alive) = 1 / (1 + a/b ((α+T)/α)^r) < 1``.

    Attributes:
        starts: starting points (r, alpha, a, b) for the optimiser; ``None`` uses three defaults.
        result: the fit (``None`` before :meth:`fit`).
    """

    name: ClassVar[str] = "ModifiedBetaGeo"
    _modified: ClassVar[bool] = True
