"""The plugin host: a pluggy manager behind a small typed facade, built by a factory.

Nothing is loaded at import.  :func:`build_host` registers the built-in
plugins exactly like third-party ones, loads the entry points of the group
``retainlib`` (a plugin that fails to import is reported, not fatal), collects
every source and refuses two sources with one name.
"""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
import logging
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import attrs
import pluggy
import polars as pl

from retainlib._dataset import Dataset
from retainlib.errors import OptionError, PluginError, RetainlibError, SourceError
from retainlib.plugins import PROJECT, ReadResult, Source, Specs

__all__ = ["DEFAULT_PLUGINS", "Host", "PluginFailure", "build_host", "default_host"]

log = logging.getLogger("retainlib.plugins")

#: Built-in plugins, registered like any other.
DEFAULT_PLUGINS: tuple[str, ...] = ("retainlib._builtin.files",)
HEAD_BYTES = 64 * 1024
#: Detector scores are capped here: a plugin cannot outbid every other source by returning a huge number.
MAX_SCORE = 100
#: A connection string's scheme (``postgresql://``, ``duckdb:``); one letter is a Windows drive, not a scheme.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


@attrs.frozen(kw_only=True)
class PluginFailure:
    """A plugin that could not be loaded.

    Attributes:
        name: the entry point's name.
        target: what the entry point points at (``module:attr``).
        error: the exception's text.
    """

    name: str
    target: str
    error: str


@attrs.frozen(kw_only=True)
class Host:
    """The loaded plugins and the sources they provide.

    Attributes:
        manager: the underlying pluggy manager.
        sources: every source by name.
        failures: plugins that failed to load, and sources refused (not a ``Source``, or a name already taken).
        conflicts: source names claimed by several plugins (none of them is used), with the plugins.
    """

    manager: pluggy.PluginManager = attrs.field(repr=False)
    sources: Mapping[str, Source]
    failures: tuple[PluginFailure, ...] = ()
    conflicts: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    def source(self, name: str) -> Source:
        """The source called ``name``, or an error listing the known ones."""
        try:
            return self.sources[name]
        except KeyError:
            if name in self.conflicts:
                raise PluginError(
                    f"source {name!r} is provided by several plugins ({', '.join(self.conflicts[name])}); "
                    "uninstall all but one",
                    plugin=self.conflicts[name][0],
                ) from None
            close = difflib.get_close_matches(name, list(self.sources), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise OptionError(
                f"unknown source {name!r}.{hint} Known sources: {', '.join(sorted(self.sources))}",
                option="source",
                value=name,
            ) from None

    def detect(self, path: Path) -> Source:
        """The source that recognises ``path`` most surely."""
        head = _head(path)
        scores: list[tuple[int, str]] = []
        for source in self.sources.values():
            if source.detector is None:
                continue
            try:
                raw = source.detector(path, head)
                if isinstance(raw, bool) or not isinstance(raw, int):
                    raise TypeError(f"returned {type(raw).__name__}, not an int")
            except Exception as exc:  # a faulty detector must not hide the others
                log.warning("detector of source %r failed on %s: %s", source.name, path, exc)
                continue
            if raw > 0:
                scores.append((min(raw, MAX_SCORE), source.name))
        if not scores:
            raise SourceError(
                "no source recognises this file; name one, e.g. "
                f"retainlib.read('csv', {str(path)!r}, table='orders'). "
                f"Sources: {', '.join(sorted(self.sources))}",
                file=path,
            )
        scores.sort(reverse=True)
        best = scores[0][0]
        tied = sorted(name for score, name in scores if score == best)
        if len(tied) > 1:
            raise SourceError(f"several sources recognise this file equally ({', '.join(tied)}); name one", file=path)
        return self.sources[tied[0]]

    def read(self, source: Source, paths: Sequence[str | os.PathLike[str]], options: Mapping[str, Any]) -> Dataset:
        """Read ``paths`` with ``source``, check its load report and attach it.

        Each argument becomes a :class:`~pathlib.Path` that must exist, except
        a connection string for a source that reads them (see :meth:`arguments`).
        """
        self.check_options(source, options)
        arguments = self.arguments(source, paths)
        self.check_files(source, arguments)
        return self._read(source, arguments, options)

    @staticmethod
    def arguments(source: Source, paths: Sequence[str | os.PathLike[str]]) -> list[Path | str]:
        """What ``source``'s reader is given: paths, or connection strings kept exactly as written.

        A string whose scheme (``postgresql://...``, ``duckdb:///...``) is one of
        the source's :attr:`~retainlib.plugins.Source.kinds` stays a string:
        ``Path()`` would squeeze its ``//`` and it names no file.  Everything
        else becomes a :class:`~pathlib.Path`.
        """
        out: list[Path | str] = []
        for item in paths:
            if isinstance(item, str):
                match = _SCHEME.match(item)
                if match and match.group(1).lower() in source.kinds:
                    out.append(item)
                    continue
            out.append(Path(item))
        return out

    @staticmethod
    def check_files(source: Source, arguments: Sequence[Path | str]) -> None:
        """Raise :class:`SourceError` for a path argument naming no file (connection strings are not checked)."""
        for path in arguments:
            if isinstance(path, Path) and not path.exists():
                raise SourceError("no such file", file=path, source=source.name)

    @staticmethod
    def check_options(source: Source, options: Mapping[str, Any]) -> None:
        """Raise :class:`OptionError` for an option ``source`` does not declare."""
        unknown = [k for k in options if k not in source.options]
        if unknown:
            known = ", ".join(sorted(source.options)) or "none"
            raise OptionError(
                f"source {source.name!r} has no option(s) {', '.join(map(repr, unknown))}; its options: {known}",
                option=unknown[0],
                value=options[unknown[0]],
            )

    def _read(self, source: Source, paths: Sequence[Path | str], options: Mapping[str, Any]) -> Dataset:
        try:
            result = source.reader(list(paths), **options)
        except RetainlibError:
            raise
        except (OSError, UnicodeError) as exc:
            raise SourceError(f"cannot read: {_masked(str(exc), paths)}", source=source.name) from exc
        except Exception as exc:  # a reader's own bug or an unhandled input: name the plugin, never a raw error
            raise SourceError(
                f"source {source.name!r} (plugin {source.plugin!r}) failed: {type(exc).__name__}: "
                f"{_masked(str(exc), paths)}",
                source=source.name,
            ) from exc
        if not isinstance(result, ReadResult):
            raise PluginError(
                f"source {source.name!r} returned {type(result).__name__}, not a ReadResult", plugin=source.plugin
            )
        result.report.check()
        _check_loaded(source, result)
        return result.dataset.relabel(report=result.report, source=result.dataset.source or source.name)


def _masked(text: str, arguments: Sequence[Path | str]) -> str:
    """``text`` without the password of any connection string among ``arguments`` (``***`` in its place)."""
    for item in arguments:
        if isinstance(item, str):
            try:
                secret = urllib.parse.urlsplit(item).password
            except ValueError:
                secret = None
            for s in {secret, urllib.parse.unquote(secret or "")} - {None, ""}:
                text = text.replace(str(s), "***")
    return text


def _check_loaded(source: Source, result: ReadResult) -> None:
    """Refuse a report claiming more loaded rows for a table than the dataset holds."""
    claimed: dict[str, int] = {}
    for load in result.report.files:
        if load.table and load.records:
            claimed[load.table] = claimed.get(load.table, 0) + load.records
    tables = result.dataset.tables
    absent = [t for t in claimed if t not in tables]
    if absent:
        raise PluginError(
            f"source {source.name!r} reported rows loaded into {', '.join(absent)} but returned no such table",
            plugin=source.plugin,
        )
    names = list(claimed)
    heights = pl.collect_all([tables[t].select(pl.len()) for t in names])
    for table, height in zip(names, heights, strict=True):
        if claimed[table] > int(height.item()):
            raise PluginError(
                f"source {source.name!r} reported {claimed[table]} rows loaded into {table} "
                f"but the dataset holds {int(height.item())}",
                plugin=source.plugin,
            )


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(HEAD_BYTES)
    except FileNotFoundError:
        raise SourceError("no such file", file=path) from None
    except IsADirectoryError:
        return b""
    except OSError as exc:
        raise SourceError(f"cannot open: {exc}", file=path) from exc


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=PROJECT)


def build_host(*, entry_points: bool = True, plugins: Iterable[object] = ()) -> Host:
    """Build a plugin host.

    Parameters
    ----------
    entry_points
        Load the plugins installed under the entry-point group ``retainlib``.
    plugins
        Extra plugin objects (modules or instances) to register, e.g. in tests.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(Specs)
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
    failures: list[PluginFailure] = []
    if entry_points:
        for ep in _entry_points():
            if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
                pm.register(plugin, name=ep.name)
            except Exception as exc:
                log.warning("retainlib plugin %r (%s) failed to load: %s", ep.name, ep.value, exc)
                failures.append(PluginFailure(name=ep.name, target=ep.value, error=f"{type(exc).__name__}: {exc}"))
    for i, plugin in enumerate(plugins):
        pm.register(plugin, name=getattr(plugin, "__name__", None) or f"plugin-{i}")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(
            f"a plugin implements an unknown hook: {exc}", plugin=str(getattr(exc, "plugin", ""))
        ) from exc

    sources: dict[str, Source] = {}
    conflicts: dict[str, tuple[str, ...]] = {}
    for impl in pm.hook.retainlib_sources.get_hookimpls():
        plugin_name = impl.plugin_name
        builtin = plugin_name in DEFAULT_PLUGINS
        try:
            produced: list[object] = list(cast(Iterable[object], impl.function() or ()))
        except Exception as exc:
            failures.append(
                PluginFailure(name=plugin_name, target="retainlib_sources", error=f"{type(exc).__name__}: {exc}")
            )
            continue
        for item in produced:
            if not isinstance(item, Source):
                failures.append(
                    PluginFailure(
                        name=plugin_name,
                        target="retainlib_sources",
                        error=f"yielded {type(item).__name__}, not a Source (ignored)",
                    )
                )
                continue
            source = attrs.evolve(item, plugin=plugin_name)
            if source.name in conflicts:
                conflicts[source.name] += (plugin_name,)
                failures.append(_clash(source.name, plugin_name, conflicts[source.name][0]))
                continue
            held = sources.get(source.name)
            if held is None:
                sources[source.name] = source
            elif held.plugin in DEFAULT_PLUGINS or builtin:  # a built-in's name stays the built-in's
                if builtin:
                    sources[source.name] = source
                    held, plugin_name = source, held.plugin
                failures.append(_clash(source.name, plugin_name, held.plugin))
            else:
                # Two plugins claim one name: neither is used, and reading it says why.
                del sources[source.name]
                conflicts[source.name] = (held.plugin, plugin_name)
                failures.append(_clash(source.name, plugin_name, held.plugin))
    return Host(
        manager=pm,
        sources=dict(sorted(sources.items())),
        failures=tuple(failures),
        conflicts=conflicts,
    )


def _clash(name: str, plugin: str, holder: str) -> PluginFailure:
    return PluginFailure(
        name=plugin,
        target="retainlib_sources",
        error=f"source name {name!r} is already taken by plugin {holder!r} (this plugin's source is not used)",
    )


@functools.cache
def default_host() -> Host:
    """The process-wide host, built on first use (not at import)."""
    return build_host()
