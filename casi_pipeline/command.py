"""What the `casi-pipeline` command does to its own process, which lives for one command: load, run, exit.
Elsewhere (tests, `dagster dev`, the code server) `loaded` does nothing.

- The cyclic garbage collector is off while the command loads its code. Importing Dagster, Great Expectations and
  pandas creates about 430,000 objects that live until the process ends, and CPython starts a full collection each
  time the long-lived objects grow by a quarter, walking all of them: 1.7 s of the 4.1-s import of the stack here
  (measured with the collector off, load 0.8). Once the code that runs stages is loaded, what is loaded is frozen,
  so no collection walks it again, and the collector is back on for the run's own garbage.
- The workers that draw the charts and render the reports (casi_pipeline.workers) are forked as soon as the code is
  loaded, so that they import matplotlib on the other core while this one runs the stages.
"""

from __future__ import annotations

import gc

_loading = False


def start() -> None:
    """The command's first call, before its first import: no collections until `loaded`."""
    global _loading
    gc.disable()
    _loading = True


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
