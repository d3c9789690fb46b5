"""retainlib-analytics (being written): no sources yet."""

from __future__ import annotations

from collections.abc import Iterable

from retainlib.plugins import Source, hookimpl


@hookimpl
def retainlib_sources() -> Iterable[Source]:
    """No sources yet."""
    return ()
