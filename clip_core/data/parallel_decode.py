"""Decoding images on a few threads while keeping the source order.

Pillow releases the GIL while it decodes, so threads decode JPEGs in parallel. ``ordered_map``
keeps at most ``window`` items in flight: a consumer that stops pulling (to run a forward pass)
stops the decoding soon after, so decoding and the model do not fight over the same cores.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _call(fn: Callable[[T], R], item: T) -> tuple[R | None, BaseException | None]:
    try:
        return fn(item), None
    except Exception as exc:  # noqa: BLE001 - handed back with its item
        return None, exc


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = 1,
                window: int | None = None) -> Iterator[tuple[T, R | None, BaseException | None]]:
    """Yield (item, fn(item), None) or (item, None, exception) in input order, on `workers` threads."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        for item in items:
            yield (item, *_call(fn, item))
        return
    window = max(workers, window if window is not None else 2 * workers)
    pending: deque[tuple[T, Future]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        try:
            for item in items:
                pending.append((item, pool.submit(_call, fn, item)))
                if len(pending) >= window:
                    done_item, future = pending.popleft()
                    yield (done_item, *future.result())
            while pending:
                done_item, future = pending.popleft()
                yield (done_item, *future.result())
        finally:
            for _, future in pending:  # a consumer that stopped early: drop what is not started
                future.cancel()
