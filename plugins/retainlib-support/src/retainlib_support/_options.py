"""The ``zendesk`` source's options: declared once, checked before any file is opened."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Literal

from retainlib.calendar import check_tz
from retainlib.errors import OptionError

__all__ = ["OPTIONS", "SOLVE_TIMES", "Options", "SolveTime"]

#: Where the solve time of a solved ticket comes from (the first is the default).
SolveTime = Literal["metrics", "updated_at"]
SOLVE_TIMES: tuple[SolveTime, ...] = ("metrics", "updated_at")

#: The reader's options, name -> description (what ``retainlib sources`` shows).
OPTIONS = {
    "tz": "time zone of naive timestamps, e.g. a CSV export written in the account's local time "
    "(default: naive timestamps are rejected)",
    "solve_time": "solved or closed tickets without a solve time from the ticket metrics or the CSV's 'Solved at': "
    "'metrics' (default) rejects them; 'updated_at' takes their last update (an upper bound of the solve time)",
    "separator": "CSV exports: the field separator (default ',')",
    "encoding": "CSV exports: the text encoding (default 'utf-8'; e.g. 'latin-1'; a UTF-16 byte-order mark is "
    "followed)",
}


@dataclass(frozen=True, slots=True)
class Options:
    """The checked options of one read."""

    tz: str | None = None
    solve_time: SolveTime = "metrics"
    separator: str = ","
    encoding: str = "utf-8"

    @classmethod
    def of(cls, *, tz: object, solve_time: object, separator: object, encoding: object) -> Options:
        """Check option values (strings, as the command line gives them; ``None`` means the default).

        Each wrong value is an :class:`OptionError` naming its option.
        """
        zone = None if tz is None else check_tz(tz)
        chosen: SolveTime = "metrics"
        if solve_time is not None:
            text = solve_time.strip().lower() if isinstance(solve_time, str) else solve_time
            chosen = OptionError.one_of(
                text,
                SOLVE_TIMES,
                option="solve_time",
                message=f"solve_time is 'metrics' or 'updated_at', got {solve_time!r}",
            )
        sep = "," if separator is None else separator
        if not (isinstance(sep, str) and len(sep) == 1 and sep.isascii() and sep not in '"\r\n'):
            raise OptionError(
                f"separator is one ASCII character other than a quote or a line break, got {separator!r}",
                option="separator",
                value=separator,
            )
        name = "utf-8" if encoding is None else encoding
        if not isinstance(name, str):
            raise OptionError(
                f"encoding is a name such as 'utf-8', got {encoding!r}", option="encoding", value=encoding
            )
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            raise OptionError(f"unknown encoding {encoding!r}", option="encoding", value=encoding) from None
        return cls(tz=zone, solve_time=chosen, separator=sep, encoding=codec)
