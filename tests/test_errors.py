"""The error hierarchy's shared helpers."""

from __future__ import annotations

import polars as pl
import pytest

from retainlib.errors import OptionError, RetainlibError


def test_one_of_returns_the_choice() -> None:
    assert OptionError.one_of("week", ("day", "week"), option="period", message="no") == "week"


@pytest.mark.parametrize(
    "value", ["fortnight", "", None, 1, True, pl.DataFrame({"x": ["week"]}), pl.lit("week"), pl.Series(["week"])]
)
def test_one_of_refuses_anything_else_with_the_message_and_option(value: object) -> None:
    # polars objects answer == with a frame or an expression: they must be refused, never compared.
    with pytest.raises(OptionError, match=r"^period is day or week$") as info:
        OptionError.one_of(value, ("day", "week"), option="period", message="period is day or week")
    assert isinstance(info.value, RetainlibError)
    assert info.value.option == "period" and info.value.value is value
