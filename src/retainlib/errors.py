"""The exceptions retainlib raises.

Every error retainlib raises for bad input or bad options derives from
:class:`RetainlibError`.  Subclasses also derive from the matching builtin
(``ValueError``, ``LookupError``...) so that code written against the builtins
keeps working, and each keeps the data it talks about (table, column, file,
rows) as attributes for programs that want more than the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import attrs
import polars as pl

__all__ = [
    "ConvergenceError",
    "CurrencyError",
    "DataError",
    "MissingExtraError",
    "OptionError",
    "PluginError",
    "Problem",
    "RecordError",
    "RetainlibError",
    "SchemaError",
    "SourceError",
]

#: How many offending rows an error message shows per problem.
SHOWN_ROWS = 5


#: A choice among the names of a ``Literal`` (see :meth:`OptionError.one_of`).
_Choice = TypeVar("_Choice", bound=str)


class RetainlibError(Exception):
    """Root of every error retainlib raises on purpose."""


class OptionError(RetainlibError, ValueError):
    """An option has a value retainlib does not accept (unknown period, negative window...).

    Attributes:
        option: the option's name.
        value: the value given.
    """

    def __init__(self, message: str, *, option: str, value: object) -> None:
        super().__init__(message)
        self.option = option
        self.value = value

    @classmethod
    def one_of(cls, value: object, choices: Sequence[_Choice], *, option: str, message: str) -> _Choice:
        """``value`` when it is one of ``choices`` (a ``Literal``'s names), else this error with ``message``.

        Only a ``str`` is compared: ``==`` on a polars frame or expression gives
        a frame or an expression, not a bool.
        """
        if isinstance(value, str):
            for choice in choices:
                if value == choice:
                    return choice
        raise cls(message, option=option, value=value)


class RecordError(RetainlibError, ValueError):
    """A single record (an attrs row such as :class:`retainlib.Order`) got an invalid field.

    Attributes:
        field: the field's name.
        value: the value given.
    """

    def __init__(self, message: str, *, field: str, value: object) -> None:
        super().__init__(f"{field}: {message} (got {value!r})")
        self.field = field
        self.value = value


class SchemaError(RetainlibError, ValueError):
    """A table lacks a column or holds it with a type retainlib cannot use.

    Attributes:
        table: canonical table name (``"orders"``...).
        column: the column concerned.
        expected: the type or shape expected, in words.
        actual: what was found, in words (``None`` for a missing column).
        file: the file the table came from, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str,
        column: str,
        expected: str,
        actual: str | None,
        file: Path | None = None,
    ) -> None:
        where = f"{file}: " if file is not None else ""
        super().__init__(f"{where}{table}.{column}: {message}")
        self.table = table
        self.column = column
        self.expected = expected
        self.actual = actual
        self.file = file


@attrs.frozen(kw_only=True)
class Problem:
    """One kind of problem found in some rows of a table.

    Attributes:
        table: canonical table name.
        column: the column at fault.
        reason: what is wrong, in words.
        count: how many rows have this problem.
        rows: the first offending rows (with their ``row`` number, 1-based).
        file: the file the rows came from, when known.
    """

    table: str
    column: str
    reason: str
    count: int
    rows: pl.DataFrame
    file: Path | None = None

    def describe(self) -> str:
        """The problem as a few lines of text, ready for an error message."""
        where = f"{self.file}: " if self.file is not None else ""
        head = f"{where}{self.table}.{self.column}: {self.reason} ({self.count} row"
        head += "s)" if self.count != 1 else ")"
        with pl.Config(
            tbl_rows=SHOWN_ROWS,
            tbl_cols=8,
            fmt_str_lengths=40,
            tbl_hide_column_data_types=True,
            tbl_hide_dataframe_shape=True,
        ):
            shown = str(self.rows.head(SHOWN_ROWS))
        return head + "\n" + "\n".join("    " + line for line in shown.splitlines())


class DataError(RetainlibError, ValueError):
    """Some rows of a table break the canonical rules; every problem is reported together.

    Attributes:
        problems: one :class:`Problem` per (column, reason), each with its first rows.
        rows: how many rows have at least one problem.
    """

    def __init__(self, problems: Sequence[Problem], *, rows: int | None = None) -> None:
        self.problems = tuple(problems)
        #: Rows with at least one problem (a row may have several).
        self.rows = rows if rows is not None else max((p.count for p in self.problems), default=0)
        lines = [f"{len(self.problems)} problem(s) in {self.rows} row(s):"]
        lines += [p.describe() for p in self.problems]
        super().__init__("\n".join(lines))


class CurrencyError(RetainlibError, ValueError):
    """Amounts in different currencies would have been added together.

    Attributes:
        currencies: the currencies found.
    """

    def __init__(self, message: str, *, currencies: Sequence[str]) -> None:
        super().__init__(message)
        self.currencies = tuple(currencies)

    @classmethod
    def check(cls, found: Sequence[str], what: str) -> None:
        """Raise when ``found`` (the distinct currencies of ``what``, e.g. "the orders") holds more than one."""
        if len(found) > 1:
            raise cls(
                f"{what} mix currencies ({', '.join(found)}); amounts in different currencies are never "
                "added together: pass by='currency' (or include it in by) or convert them first",
                currencies=found,
            )


class SourceError(RetainlibError, ValueError):
    """A file cannot be read by a source: unknown source, empty file, bad encoding...

    Attributes:
        file: the file concerned, when there is one.
        source: the source's name, when known.
    """

    def __init__(self, message: str, *, file: Path | None = None, source: str | None = None) -> None:
        where = f"{file}: " if file is not None else ""
        super().__init__(where + message)
        self.file = file
        self.source = source


class PluginError(RetainlibError, RuntimeError):
    """Plugins conflict (two sources with one name) or a hook returned something invalid.

    Attributes:
        plugin: the plugin's name, when known.
    """

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin


class ConvergenceError(RetainlibError, RuntimeError):
    """A model's maximum-likelihood fit did not converge.

    Attributes:
        model: the model's name.
        detail: what the optimiser reported.
    """

    def __init__(self, message: str, *, model: str, detail: str = "") -> None:
        super().__init__(f"{model}: {message}" + (f" ({detail})" if detail else ""))
        self.model = model
        self.detail = detail


class MissingExtraError(RetainlibError, ImportError):
    """An optional dependency of retainlib is not installed (matplotlib for :mod:`retainlib.plot`, say).

    Attributes:
        package: the missing package's import name.
        extra: the retainlib extra that installs it.
    """

    def __init__(self, package: str, extra: str, *, feature: str = "retainlib.plot") -> None:
        super().__init__(
            f"{feature} needs {package}, which is not installed: "
            f'pip install "retainlib[{extra}]" (or pip install {package})',
            name=package,
        )
        self.package = package
        self.extra = extra
