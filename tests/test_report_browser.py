"""The HTML report in headless Chromium: no console error, no network request, a screenshot that is not blank.

Chromium is the system's (Debian package ``chromium``); it is driven with playwright
(``executable_path``: no browser is downloaded), or, without playwright, by Chromium's own
``--headless --screenshot`` with a network log.  The tests skip only when no Chromium is found.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

import retainlib as rl
from retainlib.samples import synthetic_store

_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome", "headless_shell")


def _chromium() -> str | None:
    given = os.environ.get("RETAINLIB_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    found = _chromium()
    if found is None:
        pytest.skip(f"no Chromium found (looked for {', '.join(_NAMES)} on PATH, or $RETAINLIB_CHROMIUM)")
    return found


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("matplotlib")  # the page with its charts
    store = synthetic_store(customers=300, seed=5).collect()
    path = tmp_path_factory.mktemp("report") / "report.html"
    return rl.report(store, by="channel", window=90).to_html(path)


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows (RGB or RGBA bytes) of an 8-bit, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    step = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * step
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up = previous[i]
            corner = previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def _pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB pixels of a PNG (with Pillow when it is there, matplotlib's dependency)."""
    try:
        from PIL import Image
    except ImportError:
        width, height, rows = _png_pixels(png)
        step = len(rows[0]) // width
        return width, height, [row[i : i + 3] for row in rows for i in range(0, len(row), step)]
    import io

    image = Image.open(io.BytesIO(png)).convert("RGB")
    data = image.tobytes()
    return image.width, image.height, [data[i : i + 3] for i in range(0, len(data), 3)]


def _not_blank(png: bytes) -> None:
    width, height, pixels = _pixels(png)
    white = sum(1 for p in pixels if p == b"\xff\xff\xff")
    colours = len(set(pixels))
    assert white < 0.97 * len(pixels), "the screenshot is (nearly) all white"
    assert colours > 20, f"the screenshot has only {colours} colours"
    assert width >= 800 and height >= 600


def _with_playwright(chromium: str, page_file: Path, shot: Path) -> tuple[list[str], list[str], int]:
    sync_playwright = importlib.import_module("playwright.sync_api").sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri(), wait_until="load")
            svgs = int(page.evaluate("document.querySelectorAll('figure svg').length"))
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    return errors, requests, svgs


def _with_chromium_only(chromium: str, page_file: Path, shot: Path, work: Path) -> tuple[list[str], list[str], int]:
    net = work / "netlog.json"
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={work / 'profile'}",
        f"--log-net-log={net}",
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={shot}",
        "--window-size=1200,900",
        page_file.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    # The page has no script: any console message at all is a fault.
    errors = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    text = net.read_text(encoding="utf-8", errors="replace")
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # a log cut short when the browser quits: close its event list
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    # Requests made for the page (its network isolation key is the file:// site), not the browser's own.
    urls = sorted(
        {
            str(e["params"]["url"])
            for e in log.get("events", [])
            if isinstance(e.get("params"), dict)
            and "url" in e["params"]
            and str(e["params"].get("network_isolation_key", "")).startswith("file://")
        }
    )
    return errors, urls, -1


def test_report_renders_in_headless_chromium(chromium: str, report_file: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    if importlib.util.find_spec("playwright") is None:
        errors, requests, svgs = _with_chromium_only(chromium, report_file, shot, tmp_path)
    else:
        errors, requests, svgs = _with_playwright(chromium, report_file, shot)
    assert errors == []
    assert [u for u in requests if u != report_file.as_uri()] == []
    if svgs >= 0:
        assert svgs == report_file.read_text(encoding="utf-8").count("<svg") > 0
    _not_blank(shot.read_bytes())
