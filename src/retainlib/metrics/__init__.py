"""The metric kernels: vectorised polars expressions over canonical tables.

Every kernel takes a canonical table (polars DataFrame or LazyFrame) or a
:class:`~retainlib.Dataset` and returns the same kind of frame (a Dataset
gives a DataFrame).  They are re-exported from :mod:`retainlib`.
"""

from retainlib.metrics._options import KernelOptions, ObservationOptions
from retainlib.metrics.compare import compare
from retainlib.metrics.historical_clv import clv_formula, clv_historical
from retainlib.metrics.nps import nps
from retainlib.metrics.repeat import repeat_purchase_rate, returning_customer_rate
from retainlib.metrics.retention import cohort_retention, retention_rate, triangle
from retainlib.metrics.revenue import mrr, mrr_movements, revenue_retention
from retainlib.metrics.rfm import rfm, rfm_segments
from retainlib.metrics.stickiness import stickiness
from retainlib.metrics.support import support_retention
from retainlib.metrics.survival import logrank, median_lifetime, survival

__all__ = [
    "KernelOptions",
    "ObservationOptions",
    "clv_formula",
    "clv_historical",
    "cohort_retention",
    "compare",
    "logrank",
    "median_lifetime",
    "mrr",
    "mrr_movements",
    "nps",
    "repeat_purchase_rate",
    "retention_rate",
    "returning_customer_rate",
    "revenue_retention",
    "rfm",
    "rfm_segments",
    "stickiness",
    "support_retention",
    "survival",
    "triangle",
]
