"""``retainlib.read`` and ``retainlib.sources``: the public face of the plugin host."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retainlib._dataset import Dataset
from retainlib._host import Host, build_host, default_host
from retainlib._merge import merge
from retainlib.errors import OptionError

__all__ = ["read", "sources"]


def sources() -> dict[str, str]:
    """Every available source, name -> description (built-in and installed plugins).

    Examples
    --------
    >>> "csv" in sources()
    True
    """
    return {name: s.description for name, s in default_host().sources.items()}


@functools.cache
def _builtin_host() -> Host:
    """A host of the built-in sources alone (``csv``, ``json``, ``parquet``), which no plugin can take over.

    Reading with a built-in source named gives what the full host gives, without
    importing every installed plugin first (some import large libraries).
    """
    return build_host(entry_points=False)


def host_for(first: str | os.PathLike[str], paths: Sequence[str | os.PathLike[str]]) -> Host:
    """The host of the built-in sources alone when one of them is named (no plugin imported), else every source."""
    builtin = _builtin_host()
    if isinstance(first, str) and first in builtin.sources and paths and not Path(first).is_file():
        return builtin
    return default_host()


def read(source_or_path: str | os.PathLike[str], /, *paths: str | os.PathLike[str], **options: Any) -> Dataset:
    """Read files into a :class:`Dataset`, with its load report in ``.report``.

    ``read("shopify", "orders_export.csv", tz="America/New_York")`` reads with
    the named source; ``read("orders.csv")`` (first argument a path) or
    ``read("auto", "orders.csv")`` lets each file's source be detected, reads
    each group of files with its source and merges the results
    (:func:`retainlib.merge`); each source then takes the options it declares.

    Options go to the source; ``retainlib.sources()`` lists the sources and
    ``retainlib sources`` on the command line shows their options.

    Raises
    ------
    OptionError
        Unknown source or option.
    SourceError
        A file missing, empty, in a wrong encoding, or recognised by no source.
    SchemaError, DataError
        The files cannot make a canonical table.
    """
    first = os.fspath(source_or_path)
    host = host_for(source_or_path, paths)
    if first == "auto" and paths:  # as on the command line: detect each file's source
        source_or_path, paths = paths[0], paths[1:]
        first = os.fspath(source_or_path)
    if isinstance(source_or_path, str) and first in host.sources:
        if not paths:
            raise OptionError(f"read({first!r}) needs at least one file", option="paths", value=())
        return host.read(host.sources[first], paths, options)  # connection strings stay strings
    if not Path(first).exists() and (paths or Path(first).suffix == ""):
        host.source(first)  # not a file: an unknown source name; raises with suggestions
    files: Sequence[Path] = [Path(first), *(Path(p) for p in paths)]
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(host.detect(f).name, []).append(f)
    if len(groups) == 1:
        (name,) = groups
        return host.read(host.sources[name], files, options)
    # Files of several sources: each source takes the options it declares; one no source declares is refused.
    declared = {k for name in groups for k in host.sources[name].options}
    for k, given in options.items():
        if k not in declared:
            raise OptionError(
                f"none of the sources detected ({', '.join(sorted(groups))}) has an option {k!r}; "
                f"their options: {', '.join(sorted(declared)) or 'none'}",
                option=k,
                value=given,
            )
    results = [
        host.read(host.sources[name], group, {k: v for k, v in options.items() if k in host.sources[name].options})
        for name, group in groups.items()
    ]
    if len(results) == 1:
        return results[0]
    merged = merge(results)
    reports = [r.report for r in results if r.report is not None]
    report = reports[0].combine(reports[1:])
    return merged.relabel(report=report)
