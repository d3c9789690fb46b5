"""What plugin authors use: the hook marker, the hook specifications and the records hooks yield.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose
names are hooks declared here.  It is found through the entry-point group
``retainlib``::

    [project.entry-points.retainlib]
    myshop = "retainlib_myshop"

Every hook is called with keyword arguments; an implementation may accept
fewer arguments than its specification, so new arguments never break old
plugins.  See ``docs/plugins.md`` for a walk-through.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import attrs
import pluggy
import polars as pl

from retainlib._dataset import Dataset
from retainlib.errors import PluginError
from retainlib.load_report import LoadReport

__all__ = [
    "PROJECT",
    "Detector",
    "FilePlan",
    "Planner",
    "ReadResult",
    "Reader",
    "Source",
    "Specs",
    "hookimpl",
    "hookspec",
    "progress",
    "watching_progress",
]

#: The pluggy project name and entry-point group.
PROJECT = "retainlib"
hookspec = pluggy.HookspecMarker(PROJECT)
#: Marks a plugin's hook implementations: ``@retainlib.hookimpl``.
hookimpl = pluggy.HookimplMarker(PROJECT)

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@attrs.frozen(kw_only=True)
class ReadResult:
    """What a source's reader returns: the data and the account of every row.

    Attributes:
        dataset: the canonical tables read.
        report: rows read, loaded and rejected, per file; must balance.
    """

    dataset: Dataset
    report: LoadReport


#: Reads files into a :class:`ReadResult`: ``reader(paths, **options)``; options arrive as
#: keyword arguments (the host refuses any not declared in :attr:`Source.options`).
Reader = Callable[..., ReadResult]


def _names(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _keys(values: Iterable[FilePlan.Key]) -> tuple[FilePlan.Key, ...]:
    return tuple(values)


def _key_columns(values: Iterable[str]) -> tuple[str, ...]:
    columns = tuple(values)
    if not columns:
        raise PluginError("a FilePlan.Key needs at least one column")
    return columns


@attrs.frozen(kw_only=True)
class FilePlan:
    """How one file becomes one canonical table, as lazy plans that nothing has run yet.

    :func:`retainlib.read_to_parquet` runs the two plans together in one
    streaming pass over the file, writing the loaded rows and the rejected
    ones as they are found (consecutive plans of one file for different
    tables, a file's events and orders, share one pass); it then rejects the
    rows whose key an earlier row of the read holds (the table's key,
    ``order_id``..., and the keys in :attr:`dedup`), across every file of the
    table, with bounded memory.  Several plans of one file and table (a large
    file planned in slices) are reported as one load.

    Attributes:
        file: the file read.
        table: the canonical table its rows go to.
        loaded: the rows loaded: an integer column ``line`` (the row's 1-based
            line or position in the file, which names the rows a repeated key
            rejects), then the canonical columns of ``table`` (then any extra
            column kept, and the :attr:`hidden` ones).
        rejected: the rows rejected, in the load report's shape
            (:data:`~retainlib.load_report.REJECTS_SCHEMA`).
        dedup: the keys that make two loaded rows one (:class:`FilePlan.Key`), checked in
            this order: a row whose key an earlier loaded row of the read holds (files in
            the order given, rows in ``loaded``'s order) is rejected with the key's reason,
            and the first stays.  A later key is checked among the rows the earlier ones
            left.  Every plan of one table must declare the same keys.
        hidden: columns of ``loaded`` the host uses (key columns, :attr:`named_by`) but
            does not write to the table.
        named_by: a text column of ``loaded`` naming the input of each row in the load
            report when a key rejects it (an archive's member, ``archive!member``), with
            ``line`` counted within that input; ``None``: the file.
        optional: the file may hold no candidate for this table (purchases among events):
            when the plan reads no row, the report holds no load for it, and a table that
            no plan of the read fed is not written (as the reader leaves it out).
    """

    @attrs.frozen
    class Key:
        """Columns of :attr:`FilePlan.loaded` that make two rows one, and why the later one is rejected.

        Attributes:
            columns: the key's columns; a row holding a null in one of them has no key (never a duplicate).
            reason: the reason of each row rejected (``"event: duplicate event (...)"``).
            column: the report's ``column`` of those rows; by default the reason's text before its first ``": "``.

        Examples
        --------
        >>> FilePlan.Key(("_insert_id",), "event: duplicate event (an earlier event has its $insert_id)").column
        'event'
        """

        columns: tuple[str, ...] = attrs.field(converter=_key_columns)
        reason: str
        column: str = attrs.field(default=attrs.Factory(lambda self: self.reason.split(": ", 1)[0], takes_self=True))

    file: Path
    table: str
    loaded: pl.LazyFrame
    rejected: pl.LazyFrame
    dedup: tuple[Key, ...] = attrs.field(default=(), converter=_keys)
    hidden: tuple[str, ...] = attrs.field(default=(), converter=_names)
    named_by: str | None = None
    optional: bool = False


#: Plans files for streaming: ``planner(paths, **options)`` returns one :class:`FilePlan` per
#: file, or ``None`` when these files or options need the reader (which works in memory).
Planner = Callable[..., "list[FilePlan] | None"]


class Detector(Protocol):
    """Scores how surely a file is for this source: 0 (not mine) .. 100 (certainly mine).

    ``head`` holds the file's first bytes (up to 64 KiB), so detectors need not
    open the file themselves.
    """

    def __call__(self, path: Path, head: bytes, /) -> int: ...


def _check_name(_: object, __: object, value: str) -> None:
    if not _NAME.match(value):
        raise PluginError(f"a source name is lower-case letters, digits, '-' or '_', got {value!r}")


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class Source:
    """A source of data: something that reads some kind of export into a :class:`Dataset`.

    Attributes:
        name: the source's unique name (``"shopify"``, ``"csv"``), used by
            ``rl.read(name, ...)`` and ``retainlib read NAME``.
        description: one line shown by ``rl.sources()``.
        kinds: the file kinds it reads (``("csv",)``, ``("json", "jsonl")``).
        reader: reads files into a :class:`ReadResult`.
        detector: scores a file for :func:`retainlib.read` without a source name;
            ``None`` when the source must be named.
        options: the reader's options, name -> one-line description; the host
            refuses options not listed here.
        plugin: the plugin that registered it (filled in by the host).
        planner: plans files for streaming (:func:`retainlib.read_to_parquet`);
            ``None``: such a read runs the reader in memory, then writes.

    Examples
    --------
    >>> def read(paths, **options): ...
    >>> Source(name="myshop", description="MyShop order exports", kinds=("csv",), reader=read)
    Source(name='myshop', ...)
    """

    name: str = attrs.field(validator=_check_name)
    description: str
    kinds: tuple[str, ...] = attrs.field(converter=_strings)
    reader: Reader = attrs.field(repr=False)
    detector: Detector | None = attrs.field(default=None, repr=False)
    options: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    plugin: str = ""
    planner: Planner | None = attrs.field(default=None, repr=False)

    def __repr__(self) -> str:  # short, for doctests and error messages
        return f"Source(name={self.name!r}, ...)"


class Specs:
    """The hook specifications (the methods' docstrings are the reference)."""

    @hookspec
    def retainlib_sources(self) -> Iterable[Source]:  # type: ignore[empty-body]
        """Yield the :class:`Source` records this plugin provides.

        Example::

            @retainlib.hookimpl
            def retainlib_sources():
                yield Source(name="myshop", description="MyShop CSV exports",
                             kinds=("csv",), reader=read_myshop, detector=detect_myshop)
        """


# --- progress -----------------------------------------------------------------------------

_progress: contextvars.ContextVar[Callable[[Path, int], None] | None] = contextvars.ContextVar(
    "retainlib_progress", default=None
)


def progress(path: Path, rows: int = 0) -> None:
    """Tell whoever watches (the command line's progress bar) that a file is done.

    Readers call it once per file read; it does nothing when nobody watches.
    """
    callback = _progress.get()
    if callback is not None:
        callback(path, rows)


@contextmanager
def watching_progress(callback: Callable[[Path, int], None]) -> Iterator[None]:
    """Call ``callback(path, rows)`` whenever a reader reports a file done, inside the block."""
    token = _progress.set(callback)
    try:
        yield
    finally:
        _progress.reset(token)
