"""Set-up of the ``retainlib-crm`` tests: the plugin importable before installation, hypothesis, the shared data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

_SRC = Path(__file__).resolve().parents[1] / "src"
if str(_SRC) not in sys.path:  # before `uv sync` installs the plugin
    sys.path.insert(0, str(_SRC))

# The project's hypothesis profiles (tests/conftest.py holds the same; it is not loaded for plugin tests run alone).
settings.register_profile("fast", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("RETAINLIB_HYPOTHESIS", "fast"))

#: The shared reference data folder beside the repository (public data, never copied into it).
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
#: The small files written by hand for these tests.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder; skips the test when it is absent (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The folder of the hand-written fixtures."""
    return FIXTURES
