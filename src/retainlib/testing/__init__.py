"""Test helpers for retainlib and its plugins: asserts of the canonical contract, and hypothesis strategies.

The asserts check the canonical contract: :func:`assert_canonical` for a table
(schema, unique key, no nulls where none are allowed, value rules) and
:func:`assert_report_balanced` for a load report (rows read = rows loaded +
rows rejected, for every file).  A source plugin can be tested against the same
contract as the built-in sources.  They need nothing beyond retainlib.

The strategies (:func:`orders`, :func:`subscriptions`, :func:`tickets`,
:func:`responses`, :func:`events`, :func:`customers`, :func:`timestamps`,
:func:`amounts`) draw polars DataFrames with exactly the canonical schema of a
table (see :mod:`retainlib.testing.strategies`).  They need `hypothesis
<https://hypothesis.readthedocs.io>`_ (``pip install "retainlib[testing]"``); without
it, importing one of them raises an ImportError that says so, and the asserts
still work.  Nothing here is imported by ``import retainlib``.

Examples
--------
>>> from hypothesis import given, settings
>>> from retainlib.testing import assert_canonical, orders
>>> @settings(max_examples=10, deadline=None)
... @given(orders(max_size=20))
... def test_orders_are_canonical(frame):
...     assert_canonical(frame, "orders")
>>> test_orders_are_canonical()
"""

from __future__ import annotations

from typing import Any

from retainlib.testing.asserts import assert_canonical, assert_report_balanced

try:
    from retainlib.testing.strategies import (
        DEFAULT_END,
        DEFAULT_START,
        amounts,
        customer_ids,
        customers,
        events,
        orders,
        responses,
        subscriptions,
        tickets,
        timestamps,
    )
except ImportError as exc:  # hypothesis missing: the asserts stay usable
    if exc.name != "hypothesis":
        raise
    _MISSING = exc

    def __getattr__(name: str) -> Any:
        if name in __all__:  # a strategy (the asserts are always here)
            raise ImportError(
                f'retainlib.testing.{name} needs hypothesis: pip install "retainlib[testing]"'
                " (the asserts need nothing more)",
                name="hypothesis",
            ) from _MISSING
        raise AttributeError(f"module 'retainlib.testing' has no attribute {name!r}")


__all__ = [
    "DEFAULT_END",
    "DEFAULT_START",
    "amounts",
    "assert_canonical",
    "assert_report_balanced",
    "customer_ids",
    "customers",
    "events",
    "orders",
    "responses",
    "subscriptions",
    "tickets",
    "timestamps",
]
