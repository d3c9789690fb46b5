"""Predictive customer lifetime value: buy-till-you-die and contractual models.

Models are attrs classes sharing one life cycle (``retainlib.clv._model.CLVModel``):
``BetaGeo().fit(rfm_frame, unit=TimeUnit.of("D", 7))`` returns a fitted copy whose
``params`` use the papers' names, with standard errors, log-likelihood and AIC in
``result``; ``Model.from_params(..., unit=...)``; vectorised predictions returning
polars frames; ``to_json``/``from_json`` and ``save``/``load`` (never pickle).
Rows breaking the RFM rules raise one :class:`~retainlib.errors.DataError`
listing them all; data that cannot identify a model (one customer, identical
customers, a likelihood without interior maximum) raise
:class:`~retainlib.errors.ConvergenceError`.

==============================  ======================================  ==========================
model                           data                                    parameters
==============================  ======================================  ==========================
:class:`BetaGeo`                RFM (non-contractual, continuous time)  r, alpha, a, b
:class:`ModifiedBetaGeo`        RFM                                     r, alpha, a, b
:class:`ParetoNBD`              RFM                                     r, alpha, s, beta
:class:`GammaGamma`             frequency and mean repeat spend         p, q, v
:class:`ShiftedBetaGeometric`   cohort survivor counts (contractual)    alpha, beta
:class:`BetaGeoBetaBinom`       discrete opportunities (x, t_x, n)      alpha, beta, gamma, delta
==============================  ======================================  ==========================
"""

from retainlib.clv._base import MEAN_MONTH_DAYS, FitResult, TimeUnit
from retainlib.clv.bgbb import BetaGeoBetaBinom
from retainlib.clv.bgnbd import BetaGeo, ModifiedBetaGeo
from retainlib.clv.evaluation import (
    CalibrationHoldout,
    calibration_holdout,
    plot_calibration_holdout,
    plot_tracking,
    tracking,
)
from retainlib.clv.gamma_gamma import GammaGamma
from retainlib.clv.pareto import ParetoNBD
from retainlib.clv.sbg import ShiftedBetaGeometric

__all__ = [
    "MEAN_MONTH_DAYS",
    "BetaGeo",
    "BetaGeoBetaBinom",
    "CalibrationHoldout",
    "FitResult",
    "GammaGamma",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "ShiftedBetaGeometric",
    "TimeUnit",
    "calibration_holdout",
    "plot_calibration_holdout",
    "plot_tracking",
    "tracking",
]
