"""Drawing charts and rendering report pages on every core: CPU-bound Python in a run that otherwise keeps one
core busy."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def on_every_core(function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """`function` of each item, in order; with two items or more, by forked processes, one per core. A forked
    worker starts with everything the run imported (matplotlib, jinja's templates), so the pool costs tens of
    milliseconds, and it returns exactly what the same call returns here (the same PNG and HTML bytes).
    `function` must be a module-level function: the pool sends it by name."""
    workers = min(os.cpu_count() or 1, len(items))
    if workers < 2:
        return [function(item) for item in items]
    for stream in (sys.stdout, sys.stderr):  # a worker flushes the streams it inherits: nothing is printed twice
        stream.flush()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(function, items))
