"""`casi-pipeline` (the console script) and `python -m casi_pipeline`: the command, in a process that lives for one
command. The collector is off while it loads, and the process ends without the interpreter's teardown once the
command has returned (casi_pipeline.command)."""

from __future__ import annotations

import sys

from casi_pipeline import command


def program() -> None:
    command.start()
    from casi_pipeline.cli import main  # Dagster and pandas

    sys.exit(command.returned(main()))


if __name__ == "__main__":
    program()
