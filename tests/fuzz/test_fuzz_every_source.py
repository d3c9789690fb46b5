"""Every installed source, fed damaged files: a retainlib error or a balanced report, never a crash.

The built-in sources and each plugin have their own, format-aware fuzz suites;
this one runs over whatever ``rl.sources()`` lists, so that a new source joins
the suite by being installed.  Each source gets files of each kind it reads
(random bytes, and a small valid-looking file with damage: truncated, bytes
flipped, a stray quote, a BOM, another encoding), named so that the source
would look at them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retainlib as rl
from retainlib._host import default_host

FIXTURE_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

#: A plausible start for each kind of file: a header line or a JSON object, the damage then spoils it.
_SEEDS = {
    "csv": b"id,customer_id,email,created_at,amount,currency,score\n"
    b"1,c1,a@example.com,2024-03-01T10:00:00Z,10.00,EUR,9\n",
    "json": json.dumps([{"id": 1, "customer_id": "c1", "created_at": 1709287200, "score": 9}]).encode(),
    "txt": b"00001 19970101 1 11.77\n00002 19970102 2 20.00\n",
}


def _seed(kind: str) -> bytes:
    if kind in ("json", "jsonl", "ndjson"):
        return _SEEDS["json"]
    if kind in ("csv", "tsv"):
        return _SEEDS["csv"]
    return _SEEDS["txt"]


@st.composite
def damaged(draw: st.DrawFn, seed: bytes) -> bytes:
    how = draw(st.sampled_from(["random", "truncate", "flip", "quote", "bom", "utf16", "as is"]))
    if how == "random":
        return draw(st.binary(max_size=300))
    if how == "truncate":
        return seed[: draw(st.integers(0, len(seed)))]
    if how == "flip":
        data = bytearray(seed)
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "quote":
        at = draw(st.integers(0, len(seed)))
        return seed[:at] + b'"' + seed[at:]
    if how == "bom":
        return b"\xef\xbb\xbf" + seed
    if how == "utf16":
        return seed.decode("utf-8").encode("utf-16")
    return seed


SOURCES = sorted(default_host().sources)


@pytest.mark.parametrize("name", SOURCES)
@FIXTURE_OK
@given(data=st.data())
def test_a_damaged_file_is_refused_or_accounted_for(tmp_path: Path, name: str, data: st.DataObject) -> None:
    source = default_host().sources[name]
    kind = data.draw(st.sampled_from(list(source.kinds) or ["csv"]))
    path = tmp_path / f"export.{kind}"
    path.write_bytes(data.draw(damaged(_seed(kind))))
    try:
        ds = rl.read(name, path)
    except rl.RetainlibError:
        return
    report = ds.report
    assert report is not None
    assert report.rows_read == report.rows_loaded + report.rows_rejected
    for load in report.files:
        assert load.rows_read == load.rows_loaded + load.rows_rejected
