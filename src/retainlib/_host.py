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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import attrs
import pluggy

from retainlib._dataset import Dataset
from retainlib.errors import OptionError, PluginError, RetainlibError, SourceError
from retainlib.plugins import PROJECT, ReadResult, Source, Specs

__all__ = ["DEFAULT_PLUGINS", "Host", "PluginFailure", "build_host", "default_host"]

log = logging.getLogger("retainlib.plugins")

#: Built-in plugins, registered like any other.
DEFAULT_PLUGINS: tuple[str, ...] = ("retainlib._builtin.files",)
HEAD_BYTES = 64 * 1024


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
        failures: plugins that failed to load.
    """

    manager: pluggy.PluginManager = attrs.field(repr=False)
    sources: Mapping[str, Source]
    failures: tuple[PluginFailure, ...] = ()

    def source(self, name: str) -> Source:
        """The source called ``name``, or an error listing the known ones."""
        try:
            return self.sources[name]
        except KeyError:
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
                score = int(source.detector(path, head))
            except Exception as exc:  # a faulty detector must not hide the others
                log.warning("detector of source %r failed on %s: %s", source.name, path, exc)
                continue
            if score > 0:
                scores.append((score, source.name))
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

    def read(self, source: Source, paths: Sequence[Path], options: Mapping[str, Any]) -> Dataset:
        """Read ``paths`` with ``source``, check its load report and attach it."""
        unknown = [k for k in options if k not in source.options]
        if unknown:
            known = ", ".join(sorted(source.options)) or "none"
            raise OptionError(
                f"source {source.name!r} has no option(s) {', '.join(map(repr, unknown))}; its options: {known}",
                option=unknown[0],
                value=options[unknown[0]],
            )
        for path in paths:
            if not path.exists():
                raise SourceError("no such file", file=path, source=source.name)
        try:
            result = source.reader(list(paths), **options)
        except RetainlibError:
            raise
        except (OSError, UnicodeError) as exc:
            raise SourceError(f"cannot read: {exc}", source=source.name) from exc
        if not isinstance(result, ReadResult):
            raise PluginError(
                f"source {source.name!r} returned {type(result).__name__}, not a ReadResult", plugin=source.plugin
            )
        result.report.check()
        return attrs.evolve(result.dataset, report=result.report, source=result.dataset.source or source.name)


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
    for impl in pm.hook.retainlib_sources.get_hookimpls():
        plugin_name = impl.plugin_name
        try:
            produced: list[object] = list(cast(Iterable[object], impl.function() or ()))
        except Exception as exc:
            failures.append(
                PluginFailure(name=plugin_name, target="retainlib_sources", error=f"{type(exc).__name__}: {exc}")
            )
            continue
        for source in produced:
            if not isinstance(source, Source):
                raise PluginError(
                    f"plugin {plugin_name!r} yielded {type(source).__name__} from retainlib_sources, not a Source",
                    plugin=plugin_name,
                )
            if source.name in sources:
                raise PluginError(
                    f"two sources named {source.name!r}: from plugins {sources[source.name].plugin!r} "
                    f"and {plugin_name!r}; uninstall or block one",
                    plugin=plugin_name,
                )
            sources[source.name] = attrs.evolve(source, plugin=plugin_name)
    return Host(manager=pm, sources=dict(sorted(sources.items())), failures=tuple(failures))


@functools.cache
def default_host() -> Host:
    """The process-wide host, built on first use (not at import)."""
    return build_host()
