"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987; Fader, Hardie & Lee 2005 note).

A customer buys at a Poisson rate ``λ ~ Gamma(r, α)`` while alive and dies at
an exponential time of rate ``μ ~ Gamma(s, β)`` (continuous time, any moment).
Data per customer: ``x`` = frequency, ``t_x`` = recency, ``T`` (columns of
:func:`retainlib.rfm`).

Likelihood (Fader & Hardie, "A Note on Deriving the Pareto/NBD Model and Related
Expressions", 2005, eq. 22), written with the death-time integral

``L = Γ(r+x) α^r β^s / Γ(r) · [(α+T)^-(r+x) (β+T)^-s + s ∫_{t_x}^{T} (α+τ)^-(r+x) (β+τ)^-(s+1) dτ]``

whose closed form is ``s/(r+s+x) · [H(t_x) - H(T)]`` (the paper's ``A_0``) with,
after Euler's transformation of the paper's ``₂F₁`` (so that every series has
positive terms and never diverges at ``z → 1``):

* ``α ≥ β``: ``H(u) = (α+u)^-(r+x) (β+u)^-s · F(r+x, r+s+x+1; (α-β)/(α+u))``
* ``α < β``:  ``H(u) = (α+u)^(1-r-x) (β+u)^-(s+1) · F(s+1, r+s+x+1; (β-α)/(β+u))``

where ``F(b, c; z) = ₂F₁(1, b; c; z)`` with ``0 ≤ z < 1`` and ``c > b``.
Everything is in log space; the difference ``H(t_x) - H(T)`` uses ``expm1``
so that ``t_x = T`` gives exactly zero and ``x`` in the thousands stays finite.

``F`` is evaluated by :func:`log_hyp2f1_1` below: ``scipy.special.hyp2f1`` for
``z ≤ 0.75`` (checked against plain series in the tests) and, above, a
trapezoid rule on the Euler integral ``F = (c-1) ∫_0^∞ e^-(c-1)y (ε + z e^-y)^-b dy``
(``ε = 1 - z``) after the double-exponential substitution ``y = exp(v - e^-v)``;
the integrand is analytic in a strip, so the rule converges geometrically.  scipy's ``hyp2f1`` returns ``inf``/``nan``
near ``z = 1`` when ``c - 1 - b`` is a whole number or ``b`` is large
(e.g. ``hyp2f1(1, 1131.86, 1133.86, 0.98)``), which happens with ``s = 1`` or
``x`` in the thousands.

Predictions (same note and Fader & Hardie's Pareto/NBD notes):

* ``E[X(t)] = r β / (α (s-1)) · [1 - (β/(β+t))^(s-1)]`` (``r β/α · log(1 + t/β)`` at ``s = 1``).
* ``P(alive | x, t_x, T) = 1 / (1 + s ∫… / [(α+T)^-(r+x) (β+T)^-s])``.
* ``E[Y(t) | x, t_x, T] = (r+x)(β+T) / ((α+T)(s-1)) · [1 - ((β+T)/(β+T+t))^(s-1)] · P(alive)``.
* ``P(X(t) = n) = NB(n; t) (β/(β+t))^s + ∫_0^t NB(n; τ) s β^s (β+τ)^-(s+1) dτ`` with
  ``NB(n; τ) = Γ(r+n)/(Γ(r) n!) (α/(α+τ))^r (τ/(α+τ))^n`` (death at τ after n purchases
  in (0, τ]), integrated numerically (adaptive quadrature, one ``(t, n)`` at a time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import integrate, special

from retainlib.clv._base import RFMArrays, nonnegative, rfm_arrays
from retainlib.clv._model import Likelihood
from retainlib.clv._value import RFMTransactionModel, with_keys

__all__ = ["ParetoNBD", "log_hyp2f1_1"]

Array = npt.NDArray[np.float64]
_NAMES: Final = ("r", "alpha", "s", "beta")
_MODEL: Final = "ParetoNBD"
#: Up to this z, scipy's hyp2f1(1, b; c; z) is used (it is exact to ~1e-13 there; the tests check it).
_SCIPY_Z: Final = 0.75
#: Lower end of v in the Euler integral (y = exp(v - e^-v) < e^-90 there).
_V_MIN: Final = -4.5
#: Above this many unique rows, the multi-start search runs on a subsample of this many customers.
_SUBSAMPLE_ROWS: Final = 20_000
_SUBSAMPLE_CUSTOMERS: Final = 10_000


def _step(eps: float) -> float:
    """Trapezoid step for the smallest ``ε`` of a chunk (error below ~1e-12 in log F, checked in the tests)."""
    return 0.16 / max(3.2, -math.log10(max(eps, 1e-300)))


def _log_hyp2f1_1_integral(b: Array, c: Array, z: Array, eps: Array) -> Array:
    """log ₂F₁(1, b; c; z) for z near 1 from the Euler integral (see the module docstring).

    ``F = (c-1) ∫_0^∞ e^-(c-1)y (ε + z e^-y)^-b dy`` with the double-exponential
    substitution ``y = exp(v - e^-v)`` (fast decay at both ends), then the
    trapezoid rule in ``v``; rows are sorted by ``ε`` and handled in chunks
    with a step suited to the chunk's smallest ``ε``.
    """
    out = np.empty(b.size)
    order = np.argsort(eps)
    log_eps = np.log(eps)
    log_z = np.log(z)
    # Beyond y_max the integrand is below its peak by e^-45 or more.
    log_y_max = np.log(np.maximum(-log_eps, 0.0) + (45.0 + b * math.log(2.0)) / (c - 1.0) + 1.0)
    lo = 0
    while lo < b.size:
        step = _step(float(eps[order[lo]]))
        v = np.arange(_V_MIN, float(log_y_max[order[lo:]].max()) + step, step)
        rows = order[lo : lo + max(1, 2_000_000 // v.size)]
        log_y = v - np.exp(-v)
        y = np.exp(log_y)[None, :]
        log_jacobian = log_y + np.log1p(np.exp(-v)) + math.log(step)
        log_f = (
            -(c[rows, None] - 1.0) * y
            - b[rows, None] * np.logaddexp(log_eps[rows, None], log_z[rows, None] - y)
            + log_jacobian[None, :]
        )
        out[rows] = special.logsumexp(log_f, axis=1)
        lo += rows.size
    result: Array = np.log(c - 1.0) + out
    return result


def log_hyp2f1_1(b: npt.ArrayLike, c: npt.ArrayLike, z: npt.ArrayLike, eps: npt.ArrayLike | None = None) -> Array:
    """``log ₂F₁(1, b; c; z)`` for ``b > 0``, ``c > max(b, 1)``, ``0 ≤ z < 1``, accurate up to ``z → 1``.

    ``eps`` is ``1 - z`` when the caller knows it more accurately than ``1 - z``
    (e.g. ``(β+u)/(α+u)``).  Arrays broadcast together.
    """
    bb, cc, zz = (np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(b, c, z))
    ee = 1.0 - zz if eps is None else np.broadcast_to(np.asarray(eps, dtype=np.float64), zz.shape)
    shape = zz.shape
    bb, cc, zz, ee = (a.reshape(-1) for a in (bb, cc, zz, ee))
    out = np.empty(zz.size)
    near = zz > _SCIPY_Z
    with np.errstate(all="ignore"):
        far = ~near
        out[far] = np.log(special.hyp2f1(1.0, bb[far], cc[far], zz[far]))
        # Parameters overflowing during a search (alpha = inf...) give NaN, never an exception.
        bad = near & ~(np.isfinite(bb) & np.isfinite(cc) & np.isfinite(zz) & (ee > 0) & (bb > 0) & (cc > 1))
        out[bad] = np.nan
        near &= ~bad
        if near.any():
            out[near] = _log_hyp2f1_1_integral(bb[near], cc[near], zz[near], ee[near])
    result: Array = out.reshape(shape)
    return result


def _log_h(r: float, alpha: float, s: float, beta: float, x: Array, u: Array) -> Array:
    """log H(u) of the module docstring (so that s/(r+s+x) [H(t_x) - H(T)] is the death-time integral)."""
    k = r + x
    c = r + s + x + 1.0
    la = np.log(alpha + u)
    lb = np.log(beta + u)
    if alpha >= beta:
        z = (alpha - beta) / (alpha + u)
        eps = (beta + u) / (alpha + u)
        out: Array = -k * la - s * lb + log_hyp2f1_1(k, c, z, eps)
    else:
        z = (beta - alpha) / (beta + u)
        eps = (alpha + u) / (beta + u)
        out = (1.0 - k) * la - (s + 1.0) * lb + log_hyp2f1_1(np.full_like(x, s + 1.0), c, z, eps)
    return out


def _log_terms(theta: Sequence[float], x: Array, tx: Array, T: Array) -> tuple[Array, Array]:
    """(log of the alive-at-T term, log of the death-in-(t_x, T] term) of the likelihood's bracket."""
    r, alpha, s, beta = theta
    log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    h_tx = _log_h(r, alpha, s, beta, x, tx)
    h_T = _log_h(r, alpha, s, beta, x, T)
    with np.errstate(divide="ignore"):
        # s/(r+s+x) · H(t_x) · (1 - H(T)/H(t_x)); exactly -inf when t_x = T.
        log_dead = math.log(s) - np.log(r + s + x) + h_tx + np.log(-np.expm1(np.minimum(h_T - h_tx, 0.0)))
    return log_alive, log_dead


def _individual_ll(theta: Sequence[float], x: Array, tx: Array, T: Array) -> Array:
    r, alpha, s, beta = theta
    log_alive, log_dead = _log_terms(theta, x, tx, T)
    out: Array = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * math.log(alpha)
        + s * math.log(beta)
        + np.logaddexp(log_alive, log_dead)
    )
    return out


def _weighted_ll(data: RFMArrays) -> Callable[[Array], float]:
    """The total log-likelihood of a compressed summary, as a function of (r, alpha, s, beta)."""
    x, tx, T, w = data.frequency, data.recency, data.T, data.weight

    def ll(theta: Array) -> float:
        if not (np.all(np.isfinite(theta)) and np.all(theta > 0)):
            return -math.inf  # e.g. the finite-difference Hessian of maximise stepping below zero
        with np.errstate(all="ignore"):
            return float(np.dot(w, _individual_ll(theta.tolist(), x, tx, T)))

    return ll


def _probability_of_n(r: float, alpha: float, s: float, beta: float, t: float, n: float) -> float:
    """P(X(t) = n): alive at t with n purchases, plus death at τ in (0, t] after n purchases in (0, τ]."""
    const = math.lgamma(r + n) - math.lgamma(r) - math.lgamma(n + 1)

    def log_nb(tau: float) -> float:  # log P(n purchases in (0, τ]) for a customer alive throughout
        if tau == 0.0:
            return 0.0 if n == 0 else -math.inf
        return const + r * (math.log(alpha) - math.log(alpha + tau)) + n * math.log(tau / (alpha + tau))

    def death_density(tau: float) -> float:  # NB(n; τ) · s β^s (β+τ)^-(s+1)
        return math.exp(log_nb(tau) + math.log(s) + s * math.log(beta) - (s + 1.0) * math.log(beta + tau))

    alive = math.exp(log_nb(t) + s * (math.log(beta) - math.log(beta + t)))
    if t == 0.0:
        return alive
    # full_output=1: quad reports trouble in its return value instead of a warning.
    dead = integrate.quad(death_density, 0.0, t, epsabs=0.0, epsrel=1e-11, limit=200, full_output=1)[0]
    return alive + float(dead)


def _growth(k: float, log_ratio: Array) -> Array:
    """``(1 - exp(-k L)) / k`` with its limit ``L`` at ``k = 0`` (``L = log(1 + t/(β+T))``)."""
    if abs(k) < 1e-12:
        return log_ratio.copy()
    out: Array = -np.expm1(-k * log_ratio) / k
    return out


@attrs.frozen(kw_only=True)
class ParetoNBD(RFMTransactionModel):
    """Pareto/NBD model: Poisson purchases at ``λ ~ Gamma(r, α)``, exponential lifetime at ``μ ~ Gamma(s, β)``.

    Attributes:
        starts: starting values (r, alpha, s, beta) for the fit; ``None`` picks a few from the data.
        result: the fit (``None`` until :meth:`fit` or :meth:`from_params`).

    Examples
    --------
    >>> from retainlib.clv import TimeUnit  # doctest: +SKIP
    >>> model = ParetoNBD().fit(summary, unit=TimeUnit.of("D", 7))  # doctest: +SKIP
    >>> model.params  # doctest: +SKIP
    {'r': 0.553, 'alpha': 10.58, 's': 0.606, 'beta': 11.67}
    """

    starts: tuple[tuple[float, float, float, float], ...] | None = None

    name: ClassVar[str] = _MODEL
    param_names: ClassVar[tuple[str, ...]] = _NAMES

    # --------------------------------------------------------------------- fit
    def _default_starts(self, data: RFMArrays) -> list[tuple[float, float, float, float]]:
        if self.starts is not None:
            return [(float(a), float(b), float(c), float(d)) for a, b, c, d in self.starts]
        scale = data.time_scale
        return [(1.0, scale, 1.0, scale), (0.5, scale / 4, 0.5, scale / 4), (2.0, scale, 0.5, 4 * scale)]

    def _likelihood(self, data: pl.DataFrame | pl.LazyFrame) -> Likelihood:
        """The compressed RFM summary's likelihood (see :meth:`CLVModel.fit`).

        :func:`~retainlib.clv._base.maximise` runs from three starts scaled to the mean ``T``.
        With more than 20,000 unique rows it runs them on a fixed random subsample of 10,000
        customers first, then refines from that optimum on every row, so a million customers
        fit in seconds.
        """
        summary = rfm_arrays(data, model=_MODEL)
        screen = None
        if summary.frequency.size > _SUBSAMPLE_ROWS:
            # Many unique rows: search from every start on a fixed random subsample of
            # customers, then polish on all of them from the subsample's optimum.
            rng = np.random.default_rng(0)
            counts = rng.multinomial(_SUBSAMPLE_CUSTOMERS, summary.weight / summary.weight.sum()).astype(np.float64)
            keep = counts > 0
            sample = RFMArrays(
                frequency=summary.frequency[keep], recency=summary.recency[keep], T=summary.T[keep], weight=counts[keep]
            )
            screen = (_weighted_ll(sample), None)
        return Likelihood(
            log_likelihood=_weighted_ll(summary),
            starts=self._default_starts(summary),
            customers=summary.customers,
            distinct=summary.frequency.size,
            summary="(frequency, recency, T)",
            screen=screen,
        )

    # ------------------------------------------------------------- predictions
    def _alive(self, x: Array, tx: Array, T: Array) -> Array:
        theta = self._theta()
        with np.errstate(all="ignore"):
            log_alive, log_dead = _log_terms(theta, x, tx, T)
            out: Array = special.expit(log_alive - log_dead)
        return out

    def _conditional(self, t: float, x: Array, tx: Array, T: Array) -> Array:
        r, alpha, s, beta = self._theta()
        growth = _growth(s - 1.0, np.log1p(t / (beta + T)))
        out: Array = (r + x) * (beta + T) / (alpha + T) * growth * self._alive(x, tx, T)
        return out

    def expected_purchases(self, t: float | Sequence[float] | npt.ArrayLike) -> pl.DataFrame:
        """E[X(t)]: expected repeat purchases of a new customer in (0, t]; columns ``t``, ``expected_purchases``."""
        r, alpha, s, beta = self._theta()
        ts = nonnegative(t, "t")
        values = r * beta / alpha * _growth(s - 1.0, np.log1p(ts / beta))
        return pl.DataFrame({"t": ts, "expected_purchases": values})

    def probability_of_purchases(
        self, t: float | Sequence[float] | npt.ArrayLike, n: int | Sequence[int] | npt.ArrayLike
    ) -> pl.DataFrame:
        """P(X(t) = n) for a new customer: one row per (t, n) pair (all combinations); columns t, n, probability.

        The death-time integral is computed by adaptive quadrature (``scipy.integrate.quad``)
        for each pair, so this is meant for small grids (a few hundred pairs).
        """
        r, alpha, s, beta = self._theta()
        ts = nonnegative(t, "t")
        ns = nonnegative(n, "n", integer=True)
        tt, nn = (g.reshape(-1) for g in np.meshgrid(ts, ns, indexing="ij"))
        out = np.array([_probability_of_n(r, alpha, s, beta, t_i, n_i) for t_i, n_i in zip(tt, nn, strict=True)])
        return pl.DataFrame({"t": tt, "n": nn.astype(np.int64), "probability": out})

    def log_likelihood(self, rfm_frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
        """Each row's log-likelihood at the fitted parameters (key columns kept)."""
        keys, x, tx, T = self._rows(rfm_frame)
        with np.errstate(all="ignore"):
            values = _individual_ll(self._theta(), x, tx, T)
        return with_keys(keys, log_likelihood=values)
