"""`casi-pipeline` that stops before a table file goes into place, so a test can kill the writer, or start a
second run, at an exact point. Usage: python casi_pipeline_tests/paused_cli.py <control folder> run ...

The table writes (the IO manager's outputs and a commit's copies into place; not the commit records) are wrapped:
once a file whose path contains the text of `<control>/match` is written and flushed to disk, and before it is
renamed into place (on object storage: before its upload), `<control>/paused` is written and the writer waits until
`<control>/resume` exists.
"""

import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from casi_pipeline import cli
from casi_pipeline.storage import commits, parquet_io

POLL_SECONDS = 0.05

AtomicFile = Callable[[Path], AbstractContextManager]


def pausing(control: Path, atomic_file: AtomicFile) -> AtomicFile:
    @contextmanager
    def paused_atomic_file(path):
        with atomic_file(path) as sink:
            yield sink
            match = control / "match"
            if (control / "resume").exists() or not match.exists() or match.read_text() not in path.as_posix():
                return
            if isinstance(path, Path):  # a local temporary file: on disk in full, as atomic_target leaves it
                sink.flush()
                os.fsync(sink.fileno())
            (control / "paused").write_text(path.as_posix())
            while not (control / "resume").exists():
                time.sleep(POLL_SECONDS)

    return paused_atomic_file


if __name__ == "__main__":
    control = Path(sys.argv[1])
    for module in (parquet_io, commits):
        module.atomic_file = pausing(control, module.atomic_file)
    sys.exit(cli.main(sys.argv[2:]))
