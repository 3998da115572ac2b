"""What `casi-pipeline` is doing while it works: a live line on a terminal, plain lines otherwise, nothing with
`--quiet` (which keeps the single closing line).

Stages report through Dagster's event stream: the CLI registers `Progress.on_event` as the instance's event listener
for each run it starts, so every check evaluation and materialisation is shown as it is stored, with no polling.
"""

from __future__ import annotations

import sys
from typing import TextIO

import dagster as dg

SUITE_SUFFIX = "_suite"  # factory.suite_check_name (not imported: factory loads Great Expectations)


class Progress:
    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None):
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.live = not quiet and self.stream.isatty()
        self.what = ""
        self._width = 0

    def line(self, text: str) -> None:
        """A line that stays (stale months and why, what was refused, what ran)."""
        if self.quiet:
            return
        self._clear()
        print(text, file=self.stream, flush=True)

    def status(self, text: str) -> None:
        """The current step: replaces the live line on a terminal, a plain line otherwise."""
        if self.quiet:
            return
        if not self.live:
            print(text, file=self.stream, flush=True)
            return
        self._clear()
        shown = text[:200]
        self.stream.write(shown)
        self.stream.flush()
        self._width = len(shown)

    def done(self) -> None:
        self._clear()

    def _clear(self) -> None:
        if self.live and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def on_event(self, entry) -> None:
        """Dagster event listener (DagsterInstance.add_event_listener): one status per stage passed or table stored."""
        event = entry.dagster_event
        if event is None:
            return
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation.check_name.endswith(SUITE_SUFFIX) and evaluation.passed:
                self.status(f"{self.what}: {evaluation.asset_key.to_user_string()} passed its suite")
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION and not event.partition:
            self.status(f"{self.what}: {event.asset_key.to_user_string()} written")
        elif event.event_type == dg.DagsterEventType.STEP_START and self.what == "publish":
            self.status(f"publish: {event.step_key}")
