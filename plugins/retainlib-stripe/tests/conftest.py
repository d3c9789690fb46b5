"""Set-up of the ``retainlib-stripe`` tests: the plugin importable before installation, the shared data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_SRC = Path(__file__).resolve().parents[1] / "src"
if str(_SRC) not in sys.path:  # before `uv sync` installs the plugin
    sys.path.insert(0, str(_SRC))

#: ../shared/data beside the repository: public reference data, never copied into it.
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder; skips the test when it is absent (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED_DATA}")
    return SHARED_DATA
