"""The cyclic garbage collector in the `casi-pipeline` command: off while the command loads its code, then frozen
over what it loaded.

Importing Dagster, Great Expectations and pandas creates about 430,000 objects that live until the process ends.
CPython starts a full collection each time the long-lived objects grow by a quarter, and each one walks all of them:
about 1.1 s of the 4.6-s import of the stack here (six full collections, measured with `gc.callbacks`). The command
turns the collector off before its first import (`off_while_loading`); once the code that runs stages is loaded
(`loaded`, when a run is about to start), what is loaded is frozen, so no collection walks it again, and the
collector is back on for the run's own garbage. Elsewhere (tests, `dagster dev`, the code server) both do nothing.
"""

from __future__ import annotations

import gc

_off_while_loading = False


def off_while_loading() -> None:
    """The command's first call: no collections until `loaded`."""
    global _off_while_loading
    gc.disable()
    _off_while_loading = True


def loaded() -> None:
    """The code is loaded: freeze it and turn the collector back on (only after `off_while_loading`)."""
    global _off_while_loading
    if _off_while_loading:
        gc.freeze()
        gc.enable()
        _off_while_loading = False
