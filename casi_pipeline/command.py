"""What the `casi-pipeline` command does to its own process, which lives for one command: load, run, exit.
Elsewhere (tests, `dagster dev`, the code server) `loaded` does nothing.

- The cyclic garbage collector is off while the command loads its code. Importing Dagster, Great Expectations and
  pandas creates about 430,000 objects that live until the process ends, and CPython starts a full collection each
  time the long-lived objects grow by a quarter, walking all of them: 1.7 s of the 4.1-s import of the stack here
  (measured with the collector off, load 0.8). Once the code that runs stages is loaded, what is loaded is frozen,
  so no collection walks it again, and the collector is back on for the run's own garbage.
- Great Expectations imports scipy.stats and altair at its own import, for expectations this pipeline never runs (KL
  divergence, KS tests) and their charts: 0.65 s of each start. The command defers both to their first use
  (`DEFERRED_IMPORTS`): a module stands in for each and imports it for real when something is first read from it.
- The workers that draw the charts and render the reports (casi_pipeline.workers) are forked as soon as the code is
  loaded, so that they import matplotlib on the other core while this one runs the stages.
- Once the command has returned, the process ends as usual (threads joined, the workers stopped, every atexit
  handler run, output flushed) but skips the interpreter's teardown, which frees the whole heap of Dagster, Great
  Expectations and pandas object by object only for the process to end: 0.1-0.3 s of every command here.
  Everything the command writes is closed, and fsynced where it is published, before it returns.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
import threading
import types
from importlib.machinery import ModuleSpec
from typing import Any

DEFERRED_IMPORTS = ("scipy.stats", "altair")

_loading = False
_returned: int | None = None  # the command's exit status, once it has returned


def start() -> None:
    """The command's first call, before its first import: no collections until `loaded`, and the process's last
    atexit handler (handlers run last-registered first) ends it once the command has returned."""
    global _loading
    gc.disable()
    _loading = True
    atexit.register(_end_without_teardown)
    for name in DEFERRED_IMPORTS:
        if name not in sys.modules:
            sys.modules[name] = _Deferred(name)


class _Deferred(types.ModuleType):
    """Stands in for a module (in sys.modules) until something reads a name from it, then imports it for real and
    hands that name, and every later one, on. Until then special names other than `__path__` are not forwarded:
    code that scans sys.modules (inspect.getmodule reads each `__file__`) must not import it."""

    _importing = threading.Lock()

    def __init__(self, name: str):
        super().__init__(name)
        self.__spec__ = ModuleSpec(name, None)
        self._real: types.ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._real is None:
            if attribute.startswith("__") and attribute != "__path__":
                raise AttributeError(attribute)
            with self._importing:
                if self._real is None:
                    if sys.modules.get(self.__name__) is self:
                        del sys.modules[self.__name__]
                    self._real = importlib.import_module(self.__name__)
        return getattr(self._real, attribute)


def loaded() -> None:
    """The command has loaded what its runs need (called by the Runner): freeze it, turn the collector back on, and
    fork the drawing workers. Only after `start`."""
    global _loading
    if _loading:
        from casi_pipeline import workers

        gc.freeze()
        gc.enable()
        workers.fork_early()
        _loading = False


def returned(code: int) -> int:
    """The command returned `code`: no collection walks the heap again, and the process ends without its teardown
    (after the atexit handlers registered since `start`). A command that raised ends the usual way."""
    global _returned
    gc.freeze()
    _returned = code
    return code


def _end_without_teardown() -> None:
    if _returned is not None:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(_returned)
