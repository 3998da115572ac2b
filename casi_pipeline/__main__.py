"""`casi-pipeline` (the console script) and `python -m casi_pipeline`: the command, in a process that lives for one
command. The collector is off while it loads (casi_pipeline.command), and frozen before exiting: the
interpreter's last collection would otherwise walk the whole heap of Dagster, Great Expectations and pandas only to
free memory that exit frees anyway (about 2 s at the end of a run here). Atexit handlers and stream flushes still
run."""

from __future__ import annotations

import gc
import sys

from casi_pipeline import command


def program() -> None:
    command.start()
    from casi_pipeline.cli import main  # Dagster and pandas

    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    program()
