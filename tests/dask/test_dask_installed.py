"""Whether the dask tests run: they need the optional extra ``retainlib[dask]``."""

from __future__ import annotations

import pytest

from .conftest import MISSING


def test_dask_installed() -> None:
    """Skips, saying why, when dask or distributed is missing (the other dask tests are then not collected)."""
    dataframe = pytest.importorskip("dask.dataframe", reason=MISSING)
    pytest.importorskip("distributed", reason=MISSING)
    assert hasattr(dataframe, "DataFrame")
