"""Work on the other core: a run keeps one core busy, and drawing charts, rendering report pages and building the
Data Docs are CPU-bound Python that need nothing from the run but their inputs. Forked worker processes, one per
core: made per call, or once by the command as soon as its code is loaded (`fork_early`)."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_early: ProcessPoolExecutor | None = None  # forked by fork_early, used by on_every_core until the process exits


def _cores() -> int:
    return os.cpu_count() or 1


def _forked_pool() -> ProcessPoolExecutor:
    """A pool of forked processes, one per core; they are forked at its first task, all at once."""
    for stream in (sys.stdout, sys.stderr):  # a worker flushes the streams it inherits: nothing is printed twice
        stream.flush()
    return ProcessPoolExecutor(_cores(), mp_context=multiprocessing.get_context("fork"))


def _ready() -> None:
    """A worker's first task: import the drawing library (about 0.2 s), before there is anything to draw."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401


def fork_early() -> None:
    """Fork the workers now, each importing matplotlib while this process goes on with other work; on_every_core
    then uses them. For a process that will draw after a while (the command, before its runs); they end with it."""
    global _early
    if _early is None and _cores() >= 2:
        _early = _forked_pool()
        for _ in range(_cores()):
            _early.submit(_ready)


def stop_early() -> None:
    """Shut the early workers down (they also stop when the process exits)."""
    global _early
    if _early is not None:
        _early.shutdown()
        _early = None


def submit_early(function: Callable[..., Result], *args: Any) -> Future[Result] | None:
    """`function(*args)` on one of the early workers, while this process goes on; None when there are none."""
    return _early.submit(function, *args) if _early is not None else None


def on_every_core(function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """`function` of each item, in order, by forked processes, one per core: by the early workers when they were
    forked (even for one item: they have matplotlib imported), else by a pool forked now when there are two items
    or more. A forked worker returns exactly what the same call returns here (the same PNG and HTML bytes).
    `function` must be a module-level function: the pool sends it by name."""
    if _early is not None and items:
        return list(_early.map(function, items))
    if min(_cores(), len(items)) < 2:
        return [function(item) for item in items]
    with _forked_pool() as pool:
        return list(pool.map(function, items))
