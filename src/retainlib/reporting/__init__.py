"""Reports: a dataset's headline numbers, tables and charts, for a terminal, a notebook or one HTML file.

:func:`retainlib.report` computes a :class:`Report` from a
:class:`~retainlib.Dataset`; :meth:`Report.to_html` writes it as one
self-contained file, :meth:`Report.print` prints it as tables, and notebooks
show its short HTML form.  :data:`DEFINITIONS` holds the short definition of
every metric a report can show (the full ones are the pages of the docs'
metrics section).
"""

from retainlib.reporting._build import report
from retainlib.reporting._definitions import DEFINITIONS, Definition
from retainlib.reporting._model import Chart, Headline, Report, Section, Skipped, TableView

__all__ = ["DEFINITIONS", "Chart", "Definition", "Headline", "Report", "Section", "Skipped", "TableView", "report"]
