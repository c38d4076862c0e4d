"""The bounded-concurrency worker the org scan and `mlgov audit` share: items `concurrency` at a
time, results in item order, an optional callback after each item (a progress bar)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(
    work: Callable[[T], R],
    items: Iterable[T],
    concurrency: int,
    *,
    done: Callable[[T], None] | None = None,
    name: str = "worker",
) -> list[R]:
    """`work` on every item, at most `concurrency` at once (1: in this thread); results in item order."""
    items = list(items)

    def one(item: T) -> R:
        result = work(item)
        if done:
            done(item)
        return result

    workers = max(1, min(concurrency, len(items)))
    if workers == 1:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        return list(pool.map(one, items))
