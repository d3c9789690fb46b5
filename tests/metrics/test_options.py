"""One vocabulary on every kernel: the data first, then the shared options with the same meaning everywhere.

Walks ``retainlib.metrics.__all__`` with ``inspect.signature`` and checks
``period``, ``by``, ``as_of``, ``tz``, ``week_start`` and ``engine``: present
where they mean something (the exceptions are listed below, with the reason),
keyword-only, with the same defaults and annotations across kernels; and that
each ``@overload`` stub offers exactly the parameters of the implementation.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from retainlib import Dataset, metrics
from retainlib.calendar import PeriodName
from retainlib.metrics._options import DEFAULTS, AsOf, KernelOptions, ObservationOptions

SHARED = ("period", "by", "as_of", "tz", "week_start", "engine")
KERNELS: dict[str, Callable[..., Any]] = {
    name: getattr(metrics, name) for name in metrics.__all__ if inspect.isfunction(getattr(metrics, name))
}

#: The shared options a kernel does not take, on purpose.
ABSENT: dict[str, frozenset[str]] = {
    # lifetimes are elapsed time: no calendar periods
    "survival": frozenset({"period", "week_start"}),
    "median_lifetime": frozenset({"period", "week_start"}),
    "logrank": frozenset({"period", "week_start"}),
    # months, quarters or years only: a week start means nothing
    "clv_formula": frozenset({"week_start"}),
    # they take a kernel's result, not canonical data: no calendar, no observation window
    "compare": frozenset({"period", "as_of", "tz", "week_start"}),
    "triangle": frozenset(SHARED),
    "rfm_segments": frozenset({"period", "as_of", "tz", "week_start", "engine"}),
    # lifetimes' vocabulary: its grain is freq (with freq_multiplier), not a calendar period
    "rfm": frozenset({"period"}),
}
#: Kernels whose first parameter is another kernel's result rather than canonical data.
RESULT_KERNELS = frozenset({"compare", "triangle", "rfm_segments"})
#: Annotations that differ on purpose: nps(period=None) pools the whole window into one row.
ANNOTATIONS: dict[tuple[str, str], object] = {("nps", "period"): PeriodName | None}


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    return typing.get_type_hints(fn)


#: The annotation of each shared option, as the options type declares it.
TYPES: dict[str, object] = typing.get_type_hints(KernelOptions)


def _expected(name: str, option: str) -> object:
    return ANNOTATIONS.get((name, option), TYPES[option])


def _shared_of(name: str) -> list[str]:
    return [o for o in SHARED if o not in ABSENT.get(name, frozenset())]


def test_the_options_types_are_the_vocabulary() -> None:
    assert set(KernelOptions.__optional_keys__) == set(SHARED) == set(DEFAULTS)
    assert set(ObservationOptions.__optional_keys__) == {"by", "as_of", "tz", "engine"}
    assert KernelOptions.__required_keys__ == frozenset()
    assert TYPES["as_of"] == AsOf
    assert TYPES["period"] == PeriodName


def test_the_exception_lists_name_kernels() -> None:
    # a renamed or removed kernel must not leave a stale exception behind
    for table in (ABSENT, {n: None for n, _ in ANNOTATIONS}, dict.fromkeys(RESULT_KERNELS)):
        assert set(table) <= set(KERNELS)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_data_first_and_positional_then_keywords(name: str) -> None:
    params = list(inspect.signature(KERNELS[name]).parameters.values())
    first, rest = params[0], params[1:]
    assert first.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    assert first.default is inspect.Parameter.empty
    assert [p.name for p in rest if p.kind is not inspect.Parameter.KEYWORD_ONLY] == []
    accepted = _hints(KERNELS[name])[first.name]
    frames = set(typing.get_args(accepted))
    assert {pl.DataFrame, pl.LazyFrame} <= frames, (name, accepted)
    # canonical-data kernels also take a Dataset; result kernels take a frame only
    assert (Dataset in frames) is (name not in RESULT_KERNELS), (name, accepted)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_shared_options_have_one_meaning(name: str) -> None:
    fn = KERNELS[name]
    params = inspect.signature(fn).parameters
    hints = _hints(fn)
    seen = []
    for option in _shared_of(name):
        assert option in params, f"{name} lacks {option}"
        param = params[option]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY, (name, option)
        assert param.default == DEFAULTS[option], (name, option, param.default)  # type: ignore[literal-required]
        assert hints[option] == _expected(name, option), (name, option, hints[option])
        seen.append(option)
    for option in ABSENT.get(name, frozenset()):
        assert option not in params, f"{name} takes {option}: remove it from ABSENT"
    # the shared options come in one order wherever they appear
    order = [p for p in params if p in SHARED]
    assert order == seen, (name, order)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_overloads_offer_what_the_implementation_takes(name: str) -> None:
    fn = KERNELS[name]
    overloads = typing.get_overloads(fn)
    if not overloads:
        return
    implementation = inspect.signature(fn).parameters
    for stub in overloads:
        names = set()
        for param in inspect.signature(stub).parameters.values():
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                unpacked = typing.get_args(typing.get_type_hints(stub)[param.name])[0]
                names |= set(unpacked.__optional_keys__) | set(unpacked.__required_keys__)
            else:
                names.add(param.name)
                if param.name in implementation and param.default is not inspect.Parameter.empty:
                    # a stub's default is "...", or the implementation's own
                    assert param.default in (..., implementation[param.name].default), (name, param.name)
        assert names == set(implementation), (name, names ^ set(implementation))
