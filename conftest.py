"""The slowest tests, marked ``slow``: out of the default run, run by ``.ci/run`` (``pytest -m slow -n 0``).

The default run must stay under five minutes on two cores.  These tests are
the long ones (a dask cluster, a PostgreSQL server, a browser, the largest
property tests against reference implementations); they are listed here, in
one place, rather than marked one by one.
"""

from __future__ import annotations

import pytest

#: Every test under these paths (relative to the repository) is slow.
SLOW_PATHS = (
    "tests/dask/test_dask_errors.py",
    "tests/dask/test_dask_kernels.py",
    "tests/dask/test_dask_recovery.py",
    "tests/test_report_browser.py",
    "plugins/retainlib-warehouse/tests/",
)

#: These tests (every parametrisation) are slow.
SLOW_TESTS = frozenset(
    {
        "plugins/retainlib-shopify/tests/test_shopify_export.py::test_any_orders_read_back_through_the_exports",
        "plugins/retainlib-stripe/tests/test_fuzz.py::test_several_messy_files_read_together",
        "plugins/retainlib-stripe/tests/test_stripe.py::test_any_invoices_export_round_trips_its_amounts",
        "tests/clv/test_bgbb.py::test_extreme_inputs_are_finite",
        "tests/clv/test_pareto.py::test_recovers_parameters_large_samples",
        "tests/metrics/test_historical_clv.py::test_formula_by_equals_filter",
        "tests/metrics/test_nps.py::test_by_equals_filter",
        "tests/metrics/test_retention.py::test_by_equals_filter_and_lazy_equals_eager",
        "tests/metrics/test_revenue.py::test_by_equals_filter_and_lazy_equals_eager",
        "tests/metrics/test_revenue.py::test_several_currencies_are_kept_apart",
        "tests/metrics/test_support.py::test_by_equals_filter",
        "tests/metrics/test_support.py::test_lazy_tables_equal_eager_tables",
        "tests/metrics/test_survival.py::test_by_equals_filter",
        "tests/metrics/test_survival.py::test_lazy_equals_eager",
        "tests/test_dataset.py::test_parquet_round_trip_is_lossless",
        "tests/test_plot.py::test_works_without_a_display_or_pyplot",
        "tests/test_samples.py::test_invariants_hold_for_any_size_seed_and_window",
        "tests/test_sources.py::test_online_retail_line_items",
        "tests/test_testing.py::test_a_whole_dataset_is_accepted",
    }
)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests listed above ``slow``."""
    for item in items:
        test = item.nodeid.split("[", 1)[0]
        if test.startswith(SLOW_PATHS) or test in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
