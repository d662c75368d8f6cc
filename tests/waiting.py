"""Waiting in tests for something observable, never for a stretch of time and a hope.

- `wait_for(fetch, until)`: poll a blocking fetch until its value satisfies until; return it.
- `eventually(check, what)`: the same inside an event loop, for a plain or async check.

Both are bounded and fail with what they last saw.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

Value = TypeVar("Value")

# The longest any single outcome may take in the in-process bus tests.
EVENTUALLY = 10.0


def wait_for(
    fetch: Callable[[], Value],
    until: Callable[[Value], bool],
    timeout: float = 20.0,
    interval: float = 0.2,
) -> Value:
    """Poll fetch() until until(value) holds; return the value or fail with the last one."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not until(value):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached in {timeout}s; last value: {value!r}")
        time.sleep(interval)
        value = fetch()
    return value


async def eventually(check: Callable[[], Any], what: str, timeout: float = EVENTUALLY) -> Any:
    """Poll until check() (plain or async) returns something truthy; fail after the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last result: {result!r}")
        await asyncio.sleep(0.05)
