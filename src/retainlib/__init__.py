"""retainlib: customer-retention metrics on polars.

The public API is what ``__all__`` lists, plus the documented submodules
:mod:`retainlib.tables`, :mod:`retainlib.calendar`, :mod:`retainlib.errors`,
:mod:`retainlib.plugins`, :mod:`retainlib.load_report`, :mod:`retainlib.samples`,
:mod:`retainlib.reporting` and :mod:`retainlib.testing`.  Importing retainlib loads no plugin and reads
no data.
"""

from retainlib._dataset import Dataset
from retainlib._merge import merge
from retainlib._read import read, sources
from retainlib._stream import read_to_parquet
from retainlib.calendar import Calendar, Period, PeriodName
from retainlib.errors import (
    ConvergenceError,
    CurrencyError,
    DataError,
    MissingExtraError,
    OptionError,
    PluginError,
    RecordError,
    RetainlibError,
    SchemaError,
    SourceError,
)
from retainlib.load_report import FileLoad, LoadReport
from retainlib.metrics import (
    KernelOptions,
    ObservationOptions,
    clv_formula,
    clv_historical,
    cohort_retention,
    compare,
    logrank,
    median_lifetime,
    mrr,
    mrr_movements,
    nps,
    repeat_purchase_rate,
    retention_rate,
    returning_customer_rate,
    revenue_retention,
    rfm,
    rfm_segments,
    stickiness,
    support_retention,
    survival,
    triangle,
)
from retainlib.plugins import ReadResult, Source, hookimpl
from retainlib.reporting import Report, report
from retainlib.tables import Customer, Event, Order, Response, Subscription, Ticket

__version__ = "0.1.0"

__all__ = [
    "Calendar",
    "ConvergenceError",
    "CurrencyError",
    "Customer",
    "DataError",
    "Dataset",
    "Event",
    "FileLoad",
    "KernelOptions",
    "LoadReport",
    "MissingExtraError",
    "ObservationOptions",
    "OptionError",
    "Order",
    "Period",
    "PeriodName",
    "PluginError",
    "ReadResult",
    "RecordError",
    "Report",
    "Response",
    "RetainlibError",
    "SchemaError",
    "Source",
    "SourceError",
    "Subscription",
    "Ticket",
    "__version__",
    "clv_formula",
    "clv_historical",
    "cohort_retention",
    "compare",
    "hookimpl",
    "logrank",
    "median_lifetime",
    "merge",
    "mrr",
    "mrr_movements",
    "nps",
    "read",
    "read_to_parquet",
    "repeat_purchase_rate",
    "report",
    "retention_rate",
    "returning_customer_rate",
    "revenue_retention",
    "rfm",
    "rfm_segments",
    "sources",
    "stickiness",
    "support_retention",
    "survival",
    "triangle",
]
