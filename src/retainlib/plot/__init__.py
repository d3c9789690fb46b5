"""Plots of the kernels' outputs: cohort heatmap, retention curves, MRR waterfall, NPS, survival, CLV, support.

Every function takes the frame a kernel returns (a polars DataFrame; a LazyFrame is collected), its
options by keyword, and an optional ``ax=`` (a matplotlib Axes to draw into), and returns the
:class:`matplotlib.figure.Figure`.  Figures are built without :mod:`matplotlib.pyplot`: nothing is
shown, no display or GUI backend is needed, and nothing is left behind between calls.  Save one with
``fig.savefig("cohorts.png", dpi=150)`` or ``fig.savefig("cohorts.svg")``, or as inline SVG text with
:func:`to_svg`.

Needs matplotlib, the ``retainlib[plot]`` extra (``pip install "retainlib[plot]"``); without it every
function raises :class:`MissingExtraError` (an ``ImportError`` and a
:class:`~retainlib.errors.RetainlibError`) saying so.  Importing this module does not import matplotlib.
"""

from retainlib.errors import MissingExtraError
from retainlib.plot._charts import mrr_waterfall, nps_trend, survival_curve
from retainlib.plot._clv import clv_diagnostics
from retainlib.plot._cohorts import cohort_heatmap, retention_curves
from retainlib.plot._support import support_trend
from retainlib.plot._svg import to_svg

__all__ = [
    "MissingExtraError",
    "clv_diagnostics",
    "cohort_heatmap",
    "mrr_waterfall",
    "nps_trend",
    "retention_curves",
    "support_trend",
    "survival_curve",
    "to_svg",
]
