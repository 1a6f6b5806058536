"""The suite's one way to wait: for a condition, never for a time."""

import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float = 30,
    interval: float = 0.2,
    message: str | Callable[[], str] = "condition not met",
):
    """Call `predicate` until it returns something truthy and return that; after `timeout`
    seconds raise AssertionError with `message` (a callable is called then, so it can describe
    the state at the end). An exception from the predicate ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} (waited {timeout} s)")
        time.sleep(interval)
