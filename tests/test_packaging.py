"""The wheels of retainlib and of every plugin, installed into a fresh virtual environment outside the repository.

What a newcomer does after ``pip install retainlib retainlib-stripe retainlib-shopify ...``:
the library and its plugins find each other through entry points, the demo runs,
a Stripe and a Shopify export are read with ``retainlib read``.  Nothing here uses
the workspace: the packages are built with ``uv build`` (each sdist, then its wheel
from that sdist), installed from the wheel files with their dependencies from the
package index (or uv's cache), and every command runs from a temporary folder.

Marked ``packaging`` and left out of the default run (it builds and installs
packages: about half a minute): ``pytest -m packaging -n 0``.  Needs uv (as ``uv`` on the
PATH, ``$UV`` or ``python -m uv``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import retainlib as rl

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
LICENSE = (ROOT / "LICENSE").read_text(encoding="utf-8")
#: Leaked into the subprocesses, these would point them back at the repository's environment.
_SCRUBBED = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "UV_PROJECT_ENVIRONMENT", "CONDA_PREFIX")

#: A Stripe Dashboard payments export (a subset of its columns), written here: 5 rows, one amount unreadable.
STRIPE_PAYMENTS = """\
id,Created date (UTC),Amount,Amount Refunded,Currency,Captured,Status,Customer ID,Customer Email
ch_1,2024-01-05 10:00:00,20.00,0.00,usd,true,Paid,cus_a,a@example.com
ch_2,2024-02-05 10:00:00,20.00,0.00,usd,true,Paid,cus_a,a@example.com
ch_3,2024-01-20 09:30:00,45.50,0.00,usd,true,Paid,cus_b,b@example.com
ch_4,2024-03-02 16:00:00,12.00,0.00,usd,true,Paid,cus_c,c@example.com
ch_5,2024-03-03 16:00:00,twelve,0.00,usd,true,Paid,cus_c,c@example.com
"""


def _project(folder: Path) -> dict[str, object]:
    project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert isinstance(project, dict)
    return project


def _dist_names() -> list[str]:
    """The distribution names of the core and of every plugin, as their pyproject.toml files give them."""
    return [str(_project(folder)["name"]) for folder in (ROOT, *PLUGINS)]


def _uv() -> list[str]:
    """The command that runs uv: ``$UV`` (set by ``uv run``), ``uv`` on the PATH, or ``python -m uv``."""
    found = os.environ.get("UV") or shutil.which("uv")
    if found:
        return [found]
    try:
        import uv  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        pytest.skip("uv is not installed (pip install uv)")
    return [str(uv.find_uv_bin())]


class Venv:
    """A virtual environment in a temporary folder, with commands run from a temporary working folder."""

    def __init__(self, root: Path, uv: list[str]) -> None:
        self.root = root
        self.uv = uv
        self.bin = root / ("Scripts" if sys.platform == "win32" else "bin")
        self.python = self.bin / ("python.exe" if sys.platform == "win32" else "python")
        self.cwd = root.parent / "work"
        self.cwd.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env["PATH"] = os.pathsep.join([str(self.bin), env.get("PATH", "")])
        env["COLUMNS"] = "200"  # rich tables: whole names, no wrapping
        self.env = env

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """Run a command with the environment's bin/ first on the PATH; a failure shows its output."""
        done = subprocess.run(
            [str(a) for a in args], check=False, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            pytest.fail(f"{' '.join(map(str, args))} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def retainlib(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """The installed ``retainlib`` command."""
        return self.run(self.bin / "retainlib", *args)

    def python_json(self, code: str) -> object:
        """Run ``code`` with the environment's python; it prints one JSON value, returned decoded."""
        return json.loads(self.run(self.python, "-c", code).stdout)

    def install(self, requirements: Sequence[str]) -> None:
        self.run(*self.uv, "pip", "install", "--python", self.python, *requirements)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdists and wheels of the core and of every plugin, built from the repository into a temporary folder."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [*_uv(), "build", "--all-packages", "--quiet", "--out-dir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if k not in _SCRUBBED},
    )
    return out


def _wheel(dist: Path, name: str) -> Path:
    (wheel,) = dist.glob(f"{name.replace('-', '_')}-*.whl")
    return wheel


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh virtual environment outside the repository with every wheel installed (the core with ``[plot]``)."""
    root = tmp_path_factory.mktemp("fresh") / "venv"
    env = Venv(root, _uv())
    env.run(*env.uv, "venv", "--quiet", "--python", sys.executable, root)
    core, *plugins = _dist_names()
    env.install([f"{core}[plot] @ {_wheel(dist, core).as_uri()}", *(str(_wheel(dist, p)) for p in plugins)])
    return env


def test_every_package_builds_with_its_license(dist: Path) -> None:
    names = _dist_names()
    assert len(names) == 1 + len(PLUGINS) >= 8
    for name in names:
        stem = name.replace("-", "_")
        with zipfile.ZipFile(_wheel(dist, name)) as wheel:
            licensed = [n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
            assert len(licensed) == 1, (name, wheel.namelist())
            assert wheel.read(licensed[0]).decode() == LICENSE
            metadata = wheel.read(f"{stem}-0.1.0.dist-info/METADATA").decode()
        assert "License-Expression: MIT" in metadata
        assert "License-File: LICENSE" in metadata
        (sdist,) = dist.glob(f"{stem}-*.tar.gz")
        with tarfile.open(sdist) as archive:
            member = archive.extractfile(f"{stem}-0.1.0/LICENSE")
            assert member is not None, (name, archive.getnames())
            assert member.read().decode() == LICENSE


def test_plugins_pin_the_core_release_series(dist: Path) -> None:
    core, *plugins = _dist_names()
    for name in plugins:
        with zipfile.ZipFile(_wheel(dist, name)) as wheel:
            metadata = wheel.read(f"{name.replace('-', '_')}-0.1.0.dist-info/METADATA").decode()
        requires = [line for line in metadata.splitlines() if line.startswith(f"Requires-Dist: {core}")]
        assert requires == [f"Requires-Dist: {core}>=0.1,<0.2"], (name, requires)


def test_installed_from_wheels_outside_the_repository(venv: Venv) -> None:
    names = _dist_names()
    found = venv.python_json(
        "import importlib.metadata as m, json\n"
        f"names = {names!r}\n"
        "out = {}\n"
        "for n in names:\n"
        "    d = m.distribution(n)\n"
        "    lic = [f for f in (d.files or []) if f.name == 'LICENSE' and f.parent.name == 'licenses']\n"
        "    out[n] = {'version': d.version, 'direct_url': d.read_text('direct_url.json'),\n"
        "              'license': lic[0].read_text() if lic else None, 'where': str(d.locate_file(''))}\n"
        "import retainlib\n"
        "out['module'] = retainlib.__file__\n"
        "print(json.dumps(out))\n"
    )
    assert isinstance(found, dict)
    module = Path(found.pop("module"))
    assert venv.root in module.parents and ROOT not in module.parents
    assert set(found) == set(names)
    for name, info in found.items():
        assert info["version"] == rl.__version__ == "0.1.0", name
        assert info["license"] == LICENSE, name  # the LICENSE is in every installed .dist-info/licenses/
        assert venv.root in Path(info["where"]).parents, name
        direct = json.loads(info["direct_url"] or "{}")
        assert not direct.get("dir_info", {}).get("editable", False), (name, direct)


def test_version(venv: Venv) -> None:
    assert venv.retainlib("--version").stdout.split()[-1] == rl.__version__


def test_sources_find_every_plugin(venv: Venv) -> None:
    from retainlib._host import default_host

    here = {name: s.plugin for name, s in default_host().sources.items()}  # the workspace: every plugin installed
    there = venv.python_json(
        "import json\n"
        "from retainlib._host import default_host\n"
        "h = default_host()\n"
        "print(json.dumps({'sources': {n: s.plugin for n, s in h.sources.items()}, 'failures': len(h.failures)}))\n"
    )
    assert there == {"sources": here, "failures": 0}
    plugins = {plugin for plugin in here.values() if not plugin.startswith("retainlib.")}
    assert len(plugins) == len(PLUGINS)  # one entry point per plugin package
    listed = venv.retainlib("sources")
    assert "failed to load" not in listed.stderr
    words = set(listed.stdout.replace("│", " ").split())
    assert set(here) <= words and plugins <= words


def test_demo_runs_and_writes_its_report(venv: Venv) -> None:
    done = venv.retainlib("demo", "--customers", "1000", "--html", "demo.html")
    assert "retention" in done.stdout.lower() and "demo.html" in done.stdout
    _check_html(venv.cwd / "demo.html")


def test_read_a_stripe_export(venv: Venv) -> None:
    (venv.cwd / "stripe").mkdir()
    (venv.cwd / "stripe" / "payments.csv").write_text(STRIPE_PAYMENTS, encoding="utf-8")
    done = venv.retainlib("read", "stripe", "stripe/payments.csv", "--out", "stripe-data")
    assert "rows read 5 = loaded 4 + rejected 1" in done.stdout
    counts = rl.Dataset.read_parquet(venv.cwd / "stripe-data").counts()  # the files it wrote
    assert counts == {"customers": 3, "orders": 4}


@pytest.fixture(scope="module")
def shopify(venv: Venv) -> dict[str, Any]:
    """A Shopify admin export of the sample store (300 customers) written inside the environment, and its counts."""
    written = venv.python_json(
        "import json\n"
        "from retainlib.samples import synthetic_store, write_synthetic_exports\n"
        "files = write_synthetic_exports('exports', customers=300, seed=0)\n"
        "orders = synthetic_store(300, seed=0, events=False).orders.collect()\n"
        "print(json.dumps({'files': [str(p) for p in files['shopify']], 'orders': orders.height,\n"
        "                  'buyers': orders['customer_id'].n_unique()}))\n"
    )
    assert isinstance(written, dict)
    return written


def test_read_a_shopify_export(venv: Venv, shopify: dict[str, Any]) -> None:
    done = venv.retainlib("read", "shopify", *shopify["files"], "--out", "shop")
    line = re.search(r"rows read ([\d,]+) = loaded ([\d,]+) \+ rejected ([\d,]+)", done.stdout)
    assert line is not None, done.stdout
    read, loaded, rejected = (int(n.replace(",", "")) for n in line.groups())
    assert read == loaded + rejected > 0
    counts = rl.Dataset.read_parquet(venv.cwd / "shop").counts()
    assert counts == {"customers": shopify["buyers"], "orders": shopify["orders"]}


def _check_html(path: Path) -> None:
    """A whole, self-contained report with its charts (``[plot]`` is installed): inline SVG, nothing fetched."""
    page = path.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and page.rstrip().endswith("</html>")
    assert "<svg" in page and 'pip install "retainlib[plot]"' not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.IGNORECASE)


def test_report_of_a_shopify_export(venv: Venv, shopify: dict[str, Any]) -> None:
    done = venv.retainlib("report", "shopify", *shopify["files"], "--html", "shop-report.html")
    assert "shop-report.html" in done.stdout
    _check_html(venv.cwd / "shop-report.html")


def test_testing_helpers_and_their_extra(venv: Venv, dist: Path) -> None:
    probe = (
        "import json\n"
        "from retainlib.testing import assert_canonical\n"
        "try:\n"
        "    from retainlib.testing import orders\n"
        "except ImportError as exc:\n"
        "    print(json.dumps(str(exc)))\n"
        "else:\n"
        "    assert_canonical(orders(max_size=3).example(), 'orders')\n"
        "    print(json.dumps(None))\n"
    )
    missing = venv.python_json(probe)  # no hypothesis yet: the asserts import, the strategies say what they need
    assert isinstance(missing, str) and "hypothesis" in missing
    venv.install([f"retainlib[testing] @ {_wheel(dist, 'retainlib').as_uri()}"])
    assert venv.python_json(probe) is None
