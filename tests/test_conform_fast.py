"""Fast paths of the built-in readers give what the general paths give.

* JSON lines whose every value is a string are read by polars without
  inferring types (``files._string_json_lines``); any other file by the
  general readers.  Random files read both ways give the same dataset and the
  same report.
* Amounts written exactly are cast as they are; the rest is stripped and
  matched again.  Ids are stripped once.  Padding a value sends it down the
  general path: the outcome (value or reason) must not change.
"""

from __future__ import annotations

import itertools
import json
import mmap
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import retainlib as rl
from retainlib import _conform
from retainlib._builtin import files
from retainlib.errors import RetainlibError
from retainlib.tables import TABLES

COLUMNS = ["order_id", "customer_id", "ordered_at", "amount", "currency"]

# --- JSON lines ---------------------------------------------------------------------------------

texts = st.one_of(
    st.sampled_from(["o1", "o2", "c1", "17850.0", " c3 ", "2024-01-05T10:00:00Z", "2024-03-01 10:00:00+01:00"]),
    st.sampled_from(["10.00", "-5", "x", "EUR", "usd", "", " ", "a:b", 'say "hi"', "back\\slash", "[1]", "{}", "é"]),
    st.text(alphabet="ab1.:- ", max_size=6),
)
values: st.SearchStrategy[Any] = st.one_of(
    texts,
    texts,
    texts,
    st.integers(-5, 20),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.lists(st.sampled_from(["x", 1]), max_size=2),
    st.dictionaries(st.sampled_from(["k"]), st.sampled_from(["v", 2]), max_size=1),
)
records = st.lists(
    st.dictionaries(st.sampled_from([*COLUMNS, "note"]), values, min_size=0, max_size=6),
    min_size=1,
    max_size=8,
)
#: Mostly clean records (every canonical key, string values): the string path's files.
clean_records = st.lists(
    st.fixed_dictionaries(dict.fromkeys(COLUMNS, texts), optional={"note": texts}), min_size=1, max_size=8
)


def _read(path: Path, general: bool) -> tuple[str, Any]:
    """The orders and the report of ``path`` (or the error), with the fast JSON paths on or off."""
    with pytest.MonkeyPatch.context() as mp:
        if general:
            mp.setattr(files, "_polars_json_lines", lambda raw, file=None: None)
        try:
            ds = rl.read("json", path, table="orders")
        except RetainlibError as exc:
            return "error", f"{type(exc).__name__}: {exc}"
    assert ds.report is not None
    report = ds.report
    counts = (report.rows_read, report.rows_loaded, report.rows_rejected)
    return "ok", (ds.require("orders").collect(), report.rejects, counts)


def _same(path: Path) -> None:
    fast, general = _read(path, general=False), _read(path, general=True)
    assert fast[0] == general[0]
    if fast[0] == "error":
        assert fast[1] == general[1]
        return
    (f_orders, f_rejects, f_counts), (g_orders, g_rejects, g_counts) = fast[1], general[1]
    assert f_counts == g_counts
    assert f_orders.equals(g_orders), (f_orders, g_orders)
    assert f_rejects.equals(g_rejects), (f_rejects, g_rejects)


@given(rows=st.one_of(records, clean_records), compact=st.booleans(), ascii_only=st.booleans())
def test_json_lines_fast_paths_match_the_python_reader(
    rows: list[dict[str, Any]], compact: bool, ascii_only: bool
) -> None:
    separators = (",", ":") if compact else (", ", ": ")
    text = "".join(json.dumps(r, separators=separators, ensure_ascii=ascii_only) + "\n" for r in rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.jsonl"
        path.write_text(text, encoding="utf-8")
        _same(path)


@given(
    rows=st.one_of(records, clean_records),
    tail=st.sampled_from(["", "\n", "\r\n", " ", "\x0b", "\u2028", "\x00"]),
    ascii_only=st.booleans(),
)
def test_a_mapped_file_is_judged_as_its_bytes(rows: list[dict[str, Any]], tail: str, ascii_only: bool) -> None:
    """The file's bytes are mapped, not read: the proofs and polars' reading give what the bytes in memory give."""
    text = "\n".join(json.dumps(r, ensure_ascii=ascii_only) for r in rows) + tail
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.jsonl"
        path.write_bytes(text.encode())
        in_memory = files._polars_json_lines(path.read_bytes())
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as raw:
            mapped = files._polars_json_lines(raw, path)
        assert (in_memory is None) == (mapped is None)
        if in_memory is not None and mapped is not None:
            assert in_memory.collect().equals(mapped.collect())


@pytest.mark.parametrize("content", [b"", b"   ", b"\n\n", b" \t\x0b\x0c\r\n"])
def test_a_json_file_of_white_space_is_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_bytes(content)
    with pytest.raises(rl.SourceError, match="the file is empty"):
        rl.read("json", path)


@contextmanager
def _pipe(data: bytes) -> Iterator[str]:
    """The name of a pipe holding ``data`` (as a shell's process substitution gives one)."""
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    try:
        yield f"/dev/fd/{read}"
    finally:
        os.close(read)


NO_DEV_FD = pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="no /dev/fd to name a pipe by")


@NO_DEV_FD
@pytest.mark.parametrize("content", [b"", b"  \n"], ids=["empty", "blank"])
def test_json_lines_from_a_pipe(content: bytes) -> None:
    """A pipe (a shell's process substitution) cannot be mapped or read twice: its bytes are read once."""
    record = (
        b'{"order_id":"o1","customer_id":"c1","ordered_at":"2024-01-05T10:00:00Z","amount":"1.00","currency":"EUR"}'
    )
    with _pipe(record + b"\n" + record.replace(b"o1", b"o2") + b"\n") as name:
        ds = rl.read("json", name, table="orders")
        assert ds.require("orders").collect()["order_id"].to_list() == ["o1", "o2"]
    with _pipe(content) as name, pytest.raises(rl.SourceError, match="the file is empty"):
        rl.read("json", name, table="orders")


@NO_DEV_FD
def test_csv_from_a_pipe_is_refused_by_name() -> None:
    """A CSV read by polars is looked at first (its header, its encoding): a pipe cannot be read twice."""
    header = b"order_id,customer_id,ordered_at,amount,currency\n"
    with _pipe(header) as name, pytest.raises(rl.SourceError, match="not a regular file"):
        rl.read("csv", name, table="orders")


def _lines(*rows: str) -> bytes:
    return "".join(r + "\n" for r in rows).encode()


def test_string_path_takes_files_of_strings_and_refuses_the_rest(tmp_path: Path) -> None:
    good = '{"order_id":"o1","customer_id":"c1","ordered_at":"2024-01-05T10:00:00Z","amount":"1.00","currency":"EUR"}'
    spaced = json.dumps(json.loads(good))
    assert files._string_json_lines(_lines(good, good), 2) is not None
    assert files._string_json_lines(_lines(spaced, spaced), 2) is not None
    frame = files._string_json_lines(_lines(good, spaced), 2)
    assert frame is not None
    assert frame.collect()[_conform.ROW].to_list() == [1, 2]
    assert frame.collect()["amount"].to_list() == ["1.00", "1.00"]
    refused = {
        "an integer": '{"a":"x","b":5}',
        "a null": '{"a":"x","b":null}',
        "a missing key": '{"a":"x"}',
        "an extra key": '{"a":"x","b":"y","c":"z"}',
        "a repeated key": '{"a":"x","a":"z"}',
        "a nested object": '{"a":"x","b":{"k":"v"}}',
        "an array": '{"a":"x","b":["v"]}',
        "an escape": '{"a":"x","b":"\\u00e9"}',
        # Quotes as many as strings would give: an extra key of text makes up for a number.
        "an extra key making up for a number": '{"a":"x","b":5,"c":"z"}',
        "a key spaced from its colon": '{"a":"x","b" : 5,"c":"z"}',
    }
    for why, line in refused.items():
        assert files._string_json_lines(_lines('{"a":"x","b":"y"}', line), 2) is None, why
    # What was refused is read by the general readers: the extra key stays, as text.
    path = tmp_path / "orders.jsonl"
    second = good.replace('"o1"', '"o2"').replace('"EUR"}', '"EUR","note":7}').replace('"1.00"', "1")
    path.write_bytes(_lines(good, second))
    _same(path)
    orders = rl.read("json", path).require("orders").collect()
    assert orders["note"].to_list() == [None, "7"]


@given(rows=clean_records)
def test_files_of_strings_take_the_string_path(rows: list[dict[str, Any]]) -> None:
    """Plain text (no escapes, no brackets, no value opening with a space or a colon) is always taken."""
    raw = "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in rows).encode()
    plain = all(
        set(r) == set(rows[0])
        and not any(c in v for v in r.values() for c in '\\"[')
        and not any(v.startswith((" ", ":")) for v in r.values())
        for r in rows
    )
    taken = files._string_json_lines(raw, len(rows)) is not None
    if plain:
        assert taken
    if taken:
        assert all(set(r) == set(rows[0]) for r in rows)


@given(
    raw=st.binary(max_size=64) | st.text(alphabet='"::ab\n\r\x0b\té', max_size=64).map(str.encode),
    block=st.sampled_from([1, 2, 3, 7, 1 << 20]),
)
def test_bytes_counted_by_numpy_as_by_python(raw: bytes, block: int) -> None:
    """The JSON lines proofs count bytes with numpy, a block at a time: the counts Python's ``bytes.count`` gives."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(files, "_COUNT_BLOCK", block)
        counts = files._byte_counts(raw)
        assert counts.key_ends == raw.count(b'":')
        assert counts.quotes == raw.count(b'"')
        assert counts.newlines == raw.count(b"\n")
        assert counts.unusual == sum(b < 0x20 or b >= 0x80 for b in raw)
        assert files._count_below(raw, 0x20) == sum(b < 0x20 for b in raw)


# --- amounts and ids: the exact text and the padded one -----------------------------------------

amount_texts = st.one_of(
    st.text(alphabet="0123456789.-+e ", max_size=12),
    st.sampled_from(["12.50", "0.0001", "1.23456", "1e3", ".5", "5.", "-0", "+7", "", "٣", "1" * 40]),
)
id_texts = st.one_of(
    st.text(alphabet="0123456789.-+ab ", max_size=8),
    st.sampled_from(["17850.0", "17850", "-3.00", "1.5", "007", "", "\t7\n", "\u00a0x"]),
)

currency_texts = st.one_of(
    st.sampled_from(["EUR", "USD", "eur", "XYZ", "EURO", "", "é"]), st.text("EURSDeu ", max_size=4)
)


def _conformed(amount: str, order_id: str, currency: str = "EUR") -> tuple[Any, ...]:
    frame = pl.LazyFrame(
        {
            "order_id": [order_id],
            "customer_id": [order_id],
            "ordered_at": ["2024-01-05T10:00:00Z"],
            "amount": [amount],
            "currency": [currency],
        }
    )
    loaded, rejected = _conform.split(_conform.conform(frame, TABLES["orders"]), file="f")
    ok, bad = pl.collect_all([loaded, rejected])
    return ok.rows(), bad["reason"].to_list()


@given(amount=amount_texts, order_id=id_texts, currency=currency_texts)
def test_padding_a_value_changes_nothing(amount: str, order_id: str, currency: str) -> None:
    """The exact text takes the quick checks; padded, the same text is stripped first: same outcome."""
    assert _conformed(amount, order_id, currency) == _conformed(f"  {amount} ", f" {order_id}\t", f" {currency} ")


def test_padded_and_odd_values_by_hand() -> None:
    ok, bad = _conformed(" 12.50 ", " 17850.0 ", " eur ")
    assert bad == [] and [(r[0], r[1], str(r[3]), r[4]) for r in ok] == [("17850", "17850", "12.5000", "EUR")]
    assert _conformed("1.23456", "o1")[1] == ["amount: more than 4 decimal places"]
    assert _conformed("1" * 40, "o1")[1] == ["amount: amount too large"]
    assert _conformed("x", " ", "EURO")[1] == [
        "order_id: empty id; customer_id: empty id; amount: not a number; currency: not an ISO 4217 currency code"
    ]


# --- text ids: the byte test and the whole clean-up -----------------------------------------------

#: Every character Unicode calls white space (what stripping removes), beside characters that are not.
_WHITE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"
raw_ids = st.one_of(
    st.text(alphabet=f"0123456789.-+ab{_WHITE}é\x7f!", max_size=8),
    st.sampled_from(["17850.0", "17850.", "+5.00", "-3.0", "o10", "100", "1.5", "", "cus_9", "\u00a0x", "x\u3000"]),
)


def _ids_both_ways(texts: list[str | None]) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = pl.DataFrame({"id": texts}, schema={"id": pl.String})
    e = pl.col("id")
    quick = frame.select(
        _conform._odd_id(e).alias("odd"),
        pl.coalesce(_conform.canonical_id(pl.when(_conform._odd_id(e)).then(e)), e).alias("value"),
    )
    return quick, frame.select(_conform.canonical_id(e).alias("value"))


@given(texts=st.lists(st.one_of(raw_ids, st.none()), min_size=1, max_size=30))
def test_only_odd_ids_need_the_clean_up(texts: list[str | None]) -> None:
    """An id the byte test passes is already canonical; the quick value is always the canonical one."""
    quick, full = _ids_both_ways(texts)
    assert quick["value"].to_list() == full["value"].to_list()
    for text, odd, canonical in zip(texts, quick["odd"], full["value"], strict=True):
        if text is not None and canonical != text:
            assert odd, text


def test_odd_ids_by_hand() -> None:
    texts = ["o10", "17850", "1.5", "cus_9", "17850.0", "17850.", " a", "a\u00a0", "", "+5.00", "-3.0", "é", None]
    quick, full = _ids_both_ways(list(texts))
    assert quick["odd"].to_list() == [False] * 4 + [True] * 8 + [None]
    canonical = ["o10", "17850", "1.5", "cus_9", "17850", "17850", "a", "a", "", "5", "-3", "é", None]
    assert full["value"].to_list() == quick["value"].to_list() == canonical


# --- Parquet with typed columns: the quick id test against the whole clean-up ---------------------------

parquet_rows = st.lists(
    st.tuples(
        st.one_of(raw_ids, st.none()),
        st.one_of(raw_ids, st.none()),
        st.one_of(st.none(), st.integers(1_600_000_000, 1_800_000_000)),
        st.one_of(st.none(), st.integers(-(10**6), 10**6), st.sampled_from([10**24, -(10**24)])),
        st.one_of(st.none(), currency_texts),
    ),
    min_size=1,
    max_size=12,
)


@given(rows=parquet_rows, statistics=st.booleans(), group=st.sampled_from([1, 3, 1000]))
def test_parquet_ids_read_quickly_match_the_whole_clean_up(
    rows: list[tuple[Any, ...]], statistics: bool, group: int
) -> None:
    """Typed Parquet (with or without statistics, nulls or not): the same dataset and report both ways."""
    order_ids, customer_ids, seconds, cents, currencies = (list(c) for c in zip(*rows, strict=True))
    frame = pl.DataFrame(
        {
            "order_id": order_ids,
            "customer_id": customer_ids,
            "ordered_at": pl.from_epoch(pl.Series(seconds, dtype=pl.Int64)).dt.replace_time_zone("UTC"),
            "amount": pl.Series(cents, dtype=pl.Int128).cast(pl.Decimal(38, 4)) / 100,
            "currency": pl.Series(currencies, dtype=pl.String),
        },
        schema_overrides={"order_id": pl.String, "customer_id": pl.String},
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.parquet"
        frame.write_parquet(path, statistics=statistics, row_group_size=group)
        results = []
        for general in (False, True):
            with pytest.MonkeyPatch.context() as mp:
                if general:  # every id takes the whole clean-up
                    mp.setattr(_conform, "_odd_id", lambda text, bounds=None: text.is_null() | text.is_not_null())
                ds = rl.read("parquet", path)
            assert ds.report is not None
            report = ds.report
            counts = (report.rows_read, report.rows_loaded, report.rows_rejected)
            assert counts[0] == counts[1] + counts[2] == len(rows)
            results.append((ds.require("orders").collect(), report.rejects, counts))
    (f_orders, f_rejects, f_counts), (g_orders, g_rejects, g_counts) = results
    assert f_counts == g_counts
    assert f_orders.equals(g_orders), (f_orders, g_orders)
    assert f_rejects.equals(g_rejects), (f_rejects, g_rejects)


# --- repeated keys: keys in a strict order against the hashes ------------------------------------------------

key_texts = st.one_of(st.text(alphabet="ab9é ", max_size=4), st.sampled_from(["o9", "o10", "o100", "", "é", "e"]))


def _by_length_then_bytes(key: str) -> tuple[int, bytes]:
    return len(key.encode()), key.encode()


@given(
    keys=st.lists(st.one_of(key_texts, st.none()), min_size=0, max_size=40),
    order=st.sampled_from(["as drawn", "rising", "falling", "rising, then one out of place"]),
    probe=st.sampled_from([1, 2, 5, 1024]),
    cuts=st.lists(st.integers(0, 40), max_size=4),
)
def test_keys_in_order_repeat_as_the_hashes_say(
    keys: list[str | None], order: str, probe: int, cuts: list[int]
) -> None:
    """Ordered keys (rising or falling, distinct or not, a first stretch ordered and the rest not), held in
    one piece of memory or several, are judged as the hashes and the keys judge them: an earlier row holding
    the same non-null key."""
    if order != "as drawn":
        texts = sorted((k for k in keys if k is not None), key=_by_length_then_bytes, reverse=order == "falling")
        if order.endswith("out of place") and len(texts) > 2:
            texts.append(texts[0])  # a repeat far from its first row
        keys = list(texts)
    edges = sorted({min(c, len(keys)) for c in cuts} | {0, len(keys)})
    pieces = [pl.Series("k", keys[a:b], dtype=pl.String) for a, b in itertools.pairwise(edges)]
    series = pl.concat(pieces, rechunk=False) if pieces else pl.Series("k", [], dtype=pl.String)
    sizes = [_by_length_then_bytes(k) for k in keys if k is not None]
    pairs = list(itertools.pairwise(sizes))
    strictly = len(keys) > 1 and None not in keys
    assert _conform._in_strict_order(series) == (
        strictly and (all(a < b for a, b in pairs) or all(a > b for a, b in pairs))
    )
    expected = (~series.is_first_distinct() & series.is_not_null()).fill_null(False).to_list()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_conform, "_ORDER_PROBE", probe)
        quick = _conform.repeated(series).to_list()
        ordered = _conform._in_strict_order(series)
        mp.setattr(_conform, "_in_strict_order", lambda keys: False)
        hashed = _conform.repeated(series).to_list()
    assert quick == hashed == expected
    if ordered:  # the order proves every key distinct
        assert not any(expected) and None not in keys


def test_keys_in_order_by_hand() -> None:
    rising = pl.Series(["o8", "o9", "p1", "o10", "o11", "o100"])
    assert _conform._in_strict_order(rising) and _conform._in_strict_order(rising.reverse())
    assert not _conform._in_strict_order(pl.Series(["o9", "o10", "o10"]))  # a repeat is never strictly after
    assert not _conform._in_strict_order(pl.Series(["o1", None, "o2"]))  # nulls: the hashes decide
    assert not _conform._in_strict_order(pl.Series(["o1", "o3", "o2"]))
    assert _conform.repeated(pl.Series(["o9", "o10", "o10"])).to_list() == [False, False, True]
    # Many keys in order, then one repeat: the first stretch passes, the whole does not.
    keys = pl.Series([f"o{n}" for n in range(3000)] + ["o5"])
    assert not _conform._in_strict_order(keys)
    assert _conform.repeated(keys).arg_true().to_list() == [3000]
