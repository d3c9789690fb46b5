"""Set-up of the ``retainlib-surveys`` tests: the plugin importable before installation, hypothesis, shared helpers."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

_SRC = Path(__file__).resolve().parents[1] / "src"
if str(_SRC) not in sys.path:  # before `uv sync` installs the plugin
    sys.path.insert(0, str(_SRC))

import retainlib as rl  # noqa: E402
import retainlib_surveys  # noqa: E402
from retainlib import _host  # noqa: E402

# The project's hypothesis profiles (tests/conftest.py holds the same; it is not loaded for plugin tests run alone).
settings.register_profile("fast", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("RETAINLIB_HYPOTHESIS", "fast"))

#: The small files written by hand for these tests.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def host() -> _host.Host:
    """A host with the plugin registered explicitly (it may not be installed yet)."""
    return _host.build_host(entry_points=False, plugins=[retainlib_surveys])


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The folder of the hand-written fixtures."""
    return FIXTURES


@pytest.fixture(scope="session")
def read(host: _host.Host) -> Callable[..., rl.Dataset]:
    """``read("typeform", path, partial="keep")``: a dataset read through the host (so its report is checked)."""

    def reader(source: str, *paths: Path, **options: Any) -> rl.Dataset:
        return host.read(host.sources[source], list(paths), options)

    return reader
