"""The life cycle every predictive CLV model shares: fit, parameters, JSON, and the degeneracy check.

A model is a frozen attrs class deriving from :class:`CLVModel`.  It says how
its data become a likelihood (:meth:`CLVModel._likelihood`, returning a
:class:`Likelihood`); the base class does the rest, the same way for every
model:

* ``fit(data, unit=...)`` checks that the data can identify the model (at
  least two customers who differ), maximises the likelihood
  (:func:`~retainlib.clv._base.maximise`), checks that the maximum is interior
  (:func:`check_interior`) and returns a fitted copy;
* ``params``, ``result``, ``from_params(..., unit=...)``, ``to_json`` /
  ``from_json``, ``save`` / ``load``;
* any method that needs parameters raises an :class:`OptionError` saying how to
  get them when the model is not fitted.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Final, Generic, Self, TypeVar

import attrs
import numpy as np
import numpy.typing as npt
import polars as pl

from retainlib.clv._base import FitResult, Optimum, TimeUnit, maximise
from retainlib.errors import ConvergenceError, OptionError

__all__ = ["ADVICE", "BOUNDS", "CLVModel", "Likelihood", "RFMInput", "check_interior"]

Array = npt.NDArray[np.float64]
#: What the RFM models fit on: a frame with the columns of :func:`retainlib.rfm`.
RFMInput = pl.DataFrame | pl.LazyFrame
#: The data a model fits on (an RFM frame; a cohort's survivor counts for the sBG).
DataT = TypeVar("DataT")
#: Estimates outside this range have run towards 0 or infinity (the search itself, on
#: log-parameters, is unbounded): the likelihood has no interior maximum.
BOUNDS: Final = (1e-8, 1e8)
#: The flatness probe multiplies parameters by 10 or 1/10 (this much in log space)...
_PROBE: Final = math.log(10.0)
#: ...and the log-likelihood must fall by at least this much both ways for the maximum to count as interior.
_FLAT: Final = 1e-2
#: ...except along directions where the curvature (the information matrix) predicts a fall of this
#: much: only large, clearly identified fits skip probes, never the small data degenerate fits come from.
_SURE: Final = 1000.0
#: What every degenerate-fit error ends with: why, and what to do.
ADVICE: Final = (
    "the data cannot identify the model's parameters: too few customers, or customers too alike (the models "
    "describe how customers differ). Fit on more customers, or use a simpler estimate such as the historical "
    "CLV (retainlib.clv_historical)"
)


@attrs.frozen(kw_only=True)
class Likelihood:
    """A model's data, ready to be fitted: what :meth:`CLVModel._likelihood` returns.

    Attributes:
        log_likelihood: total log-likelihood as a function of the parameters (papers' order).
        gradient: its gradient, or ``None`` (finite differences are used).
        starts: starting points for the optimiser.
        customers: customers in the fit.
        distinct: distinct customer summaries in the fit, or just 2 when at least two differ (fewer than
            two: no variation to learn from).
        summary: what a customer summary is, in words (for messages): ``"(frequency, recency, T)"``...
        screen: likelihood and gradient of a subsample to choose the start on (see :func:`maximise`).
        hessian_from_gradient: standard errors from the gradient's Jacobian.
        excluded: customers left out of the fit, by reason.
    """

    log_likelihood: Callable[[Array], float]
    gradient: Callable[[Array], Array] | None = None
    starts: Sequence[Sequence[float]]
    customers: int
    distinct: int
    summary: str
    screen: tuple[Callable[[Array], float], Callable[[Array], Array] | None] | None = None
    hessian_from_gradient: bool = False
    excluded: Mapping[str, int] = attrs.field(factory=dict)


def _fmt(names: Sequence[str], values: Sequence[float]) -> str:
    return ", ".join(f"{n} = {v:.4g}" for n, v in zip(names, values, strict=True))


def check_interior(model: str, log_likelihood: Callable[[Array], float], optimum: Optimum) -> None:
    """Raise :class:`ConvergenceError` unless ``optimum`` is an interior maximum of ``log_likelihood``.

    Maximum likelihood on too few or too alike customers runs some parameters
    off towards 0 or infinity, where the likelihood levels off; where the
    optimiser stops then depends on rounding (the BLAS build, the starting
    points).  The check therefore rests on the likelihood's *values*, not on
    where the optimiser happened to stop:

    1. the log-likelihood and every estimate are finite;
    2. every estimate lies within :data:`BOUNDS`;
    3. multiplying any group of parameters by 10 or by 1/10 (some up, some
       down) lowers the log-likelihood by at least 0.01: a flat or still rising
       likelihood there means the maximum lies at the edge, along a ridge to
       infinity or zero.  Directions along which the observed information
       predicts a fall of 1000 or more are not probed (large fits);
    4. the observed information of the log-parameters is finite and positive
       definite (finite standard errors).
    """
    names = list(optimum.params)
    x = np.array([optimum.params[n] for n in names], dtype=np.float64)
    best = optimum.log_likelihood
    detail = _fmt(names, x.tolist())
    if not (math.isfinite(best) and np.all(np.isfinite(x))):
        raise ConvergenceError(f"the fit did not reach a finite optimum; {ADVICE}", model=model, detail=detail)
    low, high = BOUNDS
    off = [
        f"{n} ran towards {'0' if v <= low else 'infinity'} ({v:.3g})"
        for n, v in zip(names, x.tolist(), strict=True)
        if not low < v < high
    ]
    if off:
        raise ConvergenceError(
            f"the likelihood has no interior maximum: {', '.join(off)}, beyond the search's range {low:g}..{high:g}; "
            + ADVICE,
            model=model,
            detail=detail,
        )
    info = (optimum.information + optimum.information.T) / 2
    finite = bool(np.all(np.isfinite(info)))
    z = np.log(x)
    # Degenerate fits run off along a ridge on which some parameters grow or shrink together
    # (q and v of Gamma-Gamma, alpha and beta of the sBG...): every such direction is probed,
    # except those along which the curvature already promises a steep fall (large fits).
    moves = [np.array(d, dtype=np.float64) for d in itertools.product((0, 1, -1), repeat=x.size) if any(d)]
    moves = [d for d in moves if d[np.flatnonzero(d)[0]] > 0]  # one of each pair d, -d
    predicted = [float(d @ info @ d) * _PROBE**2 / 2 if finite else 0.0 for d in moves]
    for k in np.argsort(predicted, kind="stable"):
        if predicted[k] >= _SURE:
            break
        for sign in (1.0, -1.0):
            d = sign * moves[k]
            with np.errstate(all="ignore"):
                value = log_likelihood(np.exp(z + _PROBE * d))
            if math.isfinite(value) and value > best - _FLAT:
                moved = ", ".join(f"{n} by {10.0**c:g}" for n, c in zip(names, d.tolist(), strict=True) if c)
                raise ConvergenceError(
                    "the likelihood has no interior maximum: it is flat or still rising towards the edge of the "
                    f"parameter space (multiplying {moved} changes the log-likelihood by {value - best:+.2g}); "
                    + ADVICE,
                    model=model,
                    detail=detail,
                )
    if not finite or np.linalg.eigvalsh(info).min() <= 0:
        raise ConvergenceError(
            "the likelihood has no interior maximum: its information matrix (curvature) is singular or not finite; "
            + ADVICE,
            model=model,
            detail=detail,
        )


@attrs.frozen(kw_only=True)
class CLVModel(Generic[DataT]):
    """Base class of the predictive CLV models: fit, parameters, JSON save/load (see the module docs).

    Subclasses set :attr:`name` and :attr:`param_names` and implement
    :meth:`_likelihood`.

    Attributes:
        result: the fit (:class:`FitResult`: parameters, standard errors, log-likelihood, AIC,
            customers, unit), ``None`` before :meth:`fit`.
    """

    result: FitResult | None = None

    #: The model's name (in results, JSON and messages).
    name: ClassVar[str] = "CLVModel"
    #: The papers' parameter names, in the papers' order.
    param_names: ClassVar[tuple[str, ...]] = ()

    # --------------------------------------------------------------------- fit
    def _likelihood(self, data: DataT) -> Likelihood:
        """The model's data as a :class:`Likelihood` (checks the data; raises for bad rows)."""
        raise NotImplementedError

    def fit(self, data: DataT, *, unit: TimeUnit | None = None) -> Self:
        """Fit by maximum likelihood; return a fitted copy (the model itself is frozen).

        Parameters
        ----------
        data
            The model's data (see the class docs): an RFM frame of :func:`retainlib.rfm`,
            or a cohort's survivor counts for the sBG.
        unit
            The time unit of ``recency`` and ``T`` (or of one period); recorded in
            ``result.unit`` and needed to convert horizons and discount rates.

        Raises
        ------
        SchemaError, DataError
            Missing columns; rows that break the data's rules (all listed).
        ConvergenceError
            Fewer than two customers, customers who all look alike, or a
            likelihood without interior maximum (see :func:`check_interior`).
        """
        return self._fit(self._likelihood(data), unit)

    def _fit(self, likelihood: Likelihood, unit: TimeUnit | None) -> Self:
        n, summary = likelihood.customers, likelihood.summary
        if n < 2:
            left_out = ", ".join(f"{k}: {v}" for k, v in likelihood.excluded.items() if v)
            raise ConvergenceError(
                f"cannot be estimated from {n} customer{'' if n == 1 else 's'}"
                + (f" (customers left out: {left_out})" if left_out else "")
                + f"; {ADVICE}",
                model=self.name,
            )
        if likelihood.distinct < 2:
            raise ConvergenceError(
                f"all {n} customers have the same {summary}: there is no variation to estimate the model from; "
                + ADVICE,
                model=self.name,
            )
        optimum = maximise(
            likelihood.log_likelihood,
            names=self.param_names,
            starts=likelihood.starts,
            model=self.name,
            gradient=likelihood.gradient,
            screen=likelihood.screen,
            hessian_from_gradient=likelihood.hessian_from_gradient,
        )
        check_interior(self.name, likelihood.log_likelihood, optimum)
        result = FitResult(
            model=self.name,
            params=optimum.params,
            standard_errors=optimum.standard_errors,
            log_likelihood=optimum.log_likelihood,
            customers=n,
            unit=unit,
            converged=optimum.message.startswith("CONVERGENCE"),
            message=optimum.message,
            excluded=dict(likelihood.excluded),
        )
        return attrs.evolve(self, result=result)

    # --------------------------------------------------------------- accessors
    @property
    def fitted(self) -> FitResult:
        """The fit result; an :class:`OptionError` saying what to do when the model has no parameters yet."""
        if self.result is None:
            raise OptionError(
                f"{self.name} is not fitted: call fit() first, or give parameters with from_params() "
                "or load() / from_json()",
                option="model",
                value=self.name,
            )
        return self.result

    @property
    def params(self) -> dict[str, float]:
        """The parameters, by the papers' names (a copy)."""
        return dict(self.fitted.params)

    def _theta(self) -> tuple[float, ...]:
        """The parameters in the papers' order."""
        params = self.fitted.params
        return tuple(params[n] for n in self.param_names)

    @classmethod
    def from_params(cls, *values: float, unit: TimeUnit | None = None, **params: float) -> Self:
        """A model with given parameters (no fit): published estimates, simulation, a saved fit's numbers.

        Give the parameters by name (``BetaGeo.from_params(r=0.24, alpha=4.4, a=0.79, b=2.4)``)
        or in the papers' order; each must be a positive finite number.  The
        result has no standard errors (``inf``) and no log-likelihood (NaN).
        """
        names = cls.param_names
        if values and params:
            raise OptionError("give the parameters either by name or in order, not both", option="params", value=values)
        given = dict(zip(names, values, strict=False)) if values else dict(params)
        if len(values) > len(names) or set(given) != set(names):
            raise OptionError(
                f"{cls.name} has the parameters {', '.join(names)}; got {', '.join(given) or 'none'}",
                option="params",
                value=values or params,
            )
        for n in names:
            value = given[n]
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise OptionError(f"{n} must be a positive finite number", option=n, value=value)
        result = FitResult(
            model=cls.name,
            params={n: float(given[n]) for n in names},
            standard_errors=dict.fromkeys(names, math.inf),
            log_likelihood=math.nan,
            customers=0,
            unit=unit,
            converged=False,
            message="parameters given (from_params), not fitted",
        )
        return cls(result=result)

    # ---------------------------------------------------------------- notebooks
    def _repr_html_(self) -> str:
        """A short HTML summary for notebooks: the parameters with their standard errors, and the fit."""
        import html

        name = html.escape(self.name)
        if self.result is None:
            return f"<div><b>{name}</b> (not fitted: call <code>fit()</code> or <code>from_params()</code>)</div>"
        r = self.result
        errors = {p: se for p, se in r.standard_errors.items() if math.isfinite(se)}
        rows = "".join(
            f'<tr><td style="text-align:left">{html.escape(p)}</td>'
            f'<td style="text-align:right">{r.params[p]:.6g}</td>'
            f'<td style="text-align:right">{f"{errors[p]:.3g}" if p in errors else ""}</td></tr>'
            for p in self.param_names
            if p in r.params
        )
        facts = []
        if r.customers:
            facts.append(f"{r.customers:,} customers")
        if math.isfinite(r.log_likelihood):
            facts.append(f"log-likelihood {r.log_likelihood:,.2f}, AIC {r.aic:,.2f}")
        if r.unit is not None:
            facts.append(f"time unit {html.escape(str(r.unit))}")
        excluded = ", ".join(f"{html.escape(k)}: {v:,}" for k, v in r.excluded.items() if v)
        if excluded:
            facts.append(f"left out: {excluded}")
        facts.append(html.escape(r.message) if not r.converged else "converged")
        return (
            f"<div><b>{name}</b><table><thead><tr><th>parameter</th><th>estimate</th><th>std. error</th></tr>"
            f"</thead><tbody>{rows}</tbody></table><span>{'; '.join(facts)}</span></div>"
        )

    # -------------------------------------------------------------------- JSON
    def to_json(self) -> str:
        """The model as JSON text: parameters, standard errors, log-likelihood, customers, unit (never pickle)."""
        return self.fitted.to_json()

    @classmethod
    def from_json(cls, text: str) -> Self:
        """A model from :meth:`to_json` text; checks the model's name and parameters."""
        result = FitResult.from_json(text)
        if result.model != cls.name:
            raise OptionError(
                f"the JSON holds a {result.model} model, not {cls.name}", option="json", value=result.model
            )
        if set(result.params) != set(cls.param_names):
            raise OptionError(
                f"the JSON lacks the parameters {', '.join(cls.param_names)} of {cls.name}",
                option="json",
                value=sorted(result.params),
            )
        return cls(result=result)

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path`` (UTF-8)."""
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model written by :meth:`save`."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
