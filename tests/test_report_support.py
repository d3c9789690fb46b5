"""The report's support section: its chart is support_trend over the kernel's supported/baseline rows."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

import retainlib as rl
from retainlib.reporting._build import MAX_PERIODS
from retainlib.reporting._html import chart_svg
from retainlib.samples import synthetic_store

pytest.importorskip("matplotlib")

import retainlib.plot as rlp


@pytest.fixture(scope="module")
def report() -> rl.Report:
    return rl.report(synthetic_store(customers=400, seed=2).collect())


def test_support_section_draws_supported_and_baseline(report: rl.Report) -> None:
    (section,) = [s for s in report.sections if s.key == "support"]
    (chart,) = section.charts
    assert chart.kind == "support_trend"
    assert chart.title == "Retained within 90 days after each month: supported and baseline"
    kernel = report.frames["support_retention"]
    periods = kernel["period"].unique().sort().tail(MAX_PERIODS)
    want = kernel.filter(pl.col("breakdown") == "group", pl.col("period").is_in(periods.implode()))
    assert chart.frame.equals(want)
    fig = rlp.support_trend(chart.frame, title=chart.title)
    drawn = {str(line.get_gid()): line for line in fig.axes[0].get_lines() if line.get_gid()}
    assert list(drawn) == ["supported", "baseline"]
    for group, line in drawn.items():
        rows = want.filter(group=group).sort("period")
        drawn_rates = np.asarray(line.get_ydata(), dtype=float).tolist()
        assert drawn_rates == pytest.approx(rows["retention_rate"].fill_null(float("nan")).to_list(), nan_ok=True)


def test_support_chart_is_in_the_page(report: rl.Report) -> None:
    (section,) = [s for s in report.sections if s.key == "support"]
    svg = chart_svg(section.charts[0])
    assert svg.startswith("<svg")
    assert re.findall(r"https?://[^\"'\s<>]*", svg) == ["http://www.w3.org/2000/svg"]
    page = report.html()
    assert "Retained within 90 days after each month: supported and baseline" in page
    assert page.count("<svg") == sum(len(s.charts) for s in report.sections)


def test_many_periods_are_cut_to_the_latest() -> None:
    daily = rl.report(synthetic_store(customers=150, seed=5).collect(), period="week")
    (section,) = [s for s in daily.sections if s.key == "support"]
    shown = section.charts[0].frame
    assert shown["period"].n_unique() <= MAX_PERIODS
    assert shown["period"].max() == daily.frames["support_retention"]["period"].max()
    assert set(shown["breakdown"].to_list()) == {"group"}
