"""``import retainlib`` stays light: heavy dependencies load only where a computation needs them."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("scipy", "numpy", "pandas", "pyarrow", "threadpoolctl", "hypothesis", "rich", "click", "matplotlib")


def _modules_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_retainlib_loads_no_heavy_dependency() -> None:
    loaded = _modules_after("import retainlib")
    assert "polars" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded.intersection(HEAVY))


def test_scipy_loads_when_a_statistic_needs_it() -> None:
    code = (
        "import polars as pl, retainlib as rl\n"
        "rl.compare(pl.DataFrame({'group': ['a', 'b'], 'successes': [3, 5], 'trials': [10, 10]}),"
        " successes='successes', trials='trials')"
    )
    assert "scipy" in _modules_after(code)
