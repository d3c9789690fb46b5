"""The options every kernel shares, as one typed vocabulary.

A kernel reads ``(data, *, <its own options>, period, by, as_of, tz,
week_start, engine)``: the data first and positional, then keywords.  The
shared keywords mean the same thing, take the same types and have the same
defaults (:data:`DEFAULTS`) on every kernel where they apply:

==============  ==============  ========================================================
option          default         meaning
==============  ==============  ========================================================
``period``      ``"month"``     the calendar period: day, week, month, quarter, year
``by``          ``None``        segment column(s): the metric is computed per segment
``as_of``       ``None``        end of observation (exclusive aware datetime, or a date
                                meaning through its end); ``None``: the data's last time
``tz``          ``"UTC"``       the reporting time zone (IANA name)
``week_start``  ``0``           first day of a week, 0 (Monday) .. 6 (Sunday), or a name
``engine``      ``"auto"``      the polars engine of the collects the kernel makes
==============  ==============  ========================================================

The TypedDicts below carry them, so a set of options can be written once and
passed to several kernels (``rl.retention_rate(orders, **options)``), and the
``@overload`` stubs of a kernel take ``**options: Unpack[KernelOptions]``
instead of repeating every shared parameter: only the kernel's own options
are spelled out in the stubs, while the implementation keeps explicit keyword
parameters with their defaults (which its docstring states).

Examples
--------
>>> import datetime as dt, polars as pl, retainlib as rl
>>> options: rl.KernelOptions = {"period": "quarter", "tz": "Europe/Paris"}
>>> orders = pl.DataFrame({
...     "order_id": ["1", "2"], "customer_id": ["a", "a"],
...     "ordered_at": [dt.datetime(2024, 1, 5, tzinfo=dt.UTC), dt.datetime(2024, 4, 5, tzinfo=dt.UTC)],
...     "amount": ["10", "20"], "currency": ["EUR"] * 2})
>>> rl.retention_rate(orders, **options)["retained"].to_list()
[1]
"""

from __future__ import annotations

import datetime as dt
from typing import Final, TypeAlias, TypedDict

from retainlib.calendar import PeriodName, WeekStart
from retainlib.metrics._common import By, Engine

__all__ = ["DEFAULTS", "AsOf", "KernelOptions", "ObservationOptions"]

#: An end of observation: an aware datetime (exclusive), a date (through its end), or ``None`` (the data's end).
AsOf: TypeAlias = dt.datetime | dt.date | None


class ObservationOptions(TypedDict, total=False):
    """The shared options of every kernel over canonical data: who is compared, when observation ends, how it runs.

    Kernels without calendar periods (the survival family: lifetimes are elapsed
    time) take these; the others take :class:`KernelOptions`.
    """

    by: By
    as_of: AsOf
    tz: str
    engine: Engine


class KernelOptions(ObservationOptions, total=False):
    """:class:`ObservationOptions` plus the calendar: ``period`` and ``week_start``."""

    period: PeriodName
    week_start: WeekStart


#: The default of each shared option, the same on every kernel that takes it.
DEFAULTS: Final[KernelOptions] = {
    "period": "month",
    "by": None,
    "as_of": None,
    "tz": "UTC",
    "week_start": 0,
    "engine": "auto",
}
