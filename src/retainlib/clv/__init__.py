"""Predictive customer lifetime value: buy-till-you-die and contractual models.

Models are attrs classes: ``BetaGeo().fit(rfm_frame, unit=...)`` returns a
fitted model whose ``params`` use the papers' names, with standard errors,
log-likelihood and AIC in ``result``, vectorised predictions returning polars
frames, and JSON save/load.  Shared machinery: :mod:`retainlib.clv._base`.
"""

from retainlib.clv._base import MEAN_MONTH_DAYS, FitResult, TimeUnit

__all__ = ["MEAN_MONTH_DAYS", "FitResult", "TimeUnit"]
