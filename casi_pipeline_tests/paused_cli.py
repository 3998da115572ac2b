"""`casi-pipeline` as a process of its own, which can stop before a table file goes into place, so a test can kill
the writer, or start a second run, at an exact point.

Two ways to start it: `ForkedRun`, forked from the test process, or this file as a script in a fresh interpreter
(python casi_pipeline_tests/paused_cli.py <control folder> run ...), for S3 roots: pyarrow's S3 client does not
survive a fork.

With a control folder, the table writes (the IO manager's outputs and a commit's copies into place; not the commit
records) are wrapped: once a file whose path contains the text of `<control>/match` is written and flushed to disk,
and before it is renamed into place (on object storage: before its upload), `<control>/paused` is written and the
writer waits until `<control>/resume` exists.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import NoReturn

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


def pause_writes(control: Path) -> None:
    for module in (parquet_io, commits):
        module.atomic_file = pausing(control, module.atomic_file)


class ForkedRun:
    """`casi-pipeline <args>` in a child forked from the test process, with `env` as its whole environment.

    The child is a process like any other (its own pid, file locks and database connections; killed by a signal),
    but it starts with Dagster and Great Expectations already imported, which a fresh interpreter spends seconds
    on. It answers what the tests ask of a `subprocess.Popen`: pid, poll, communicate, send_signal, kill.
    """

    def __init__(self, env: dict[str, str], args: list[str], control: Path | None = None):
        pipes = [os.pipe(), os.pipe()]  # the child's standard output and error
        self.pid = os.fork()
        if self.pid == 0:
            _child(env, args, control, pipes)
        self.returncode: int | None = None
        self._output = [bytearray(), bytearray()]
        self._readers = []
        for (read_end, write_end), output in zip(pipes, self._output, strict=True):
            os.close(write_end)
            reader = threading.Thread(target=_drain, args=(read_end, output), daemon=True)
            reader.start()
            self._readers.append(reader)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"casi-pipeline (pid {self.pid})", timeout or 0)
            time.sleep(POLL_SECONDS)
        for reader in self._readers:
            reader.join()
        out, err = (output.decode("utf-8", "replace") for output in self._output)
        return out, err

    def send_signal(self, signal_number: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal_number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _child(env: dict[str, str], args: list[str], control: Path | None, pipes: list[tuple[int, int]]) -> NoReturn:
    code = 1
    try:
        for (read_end, write_end), fd in zip(pipes, (1, 2), strict=True):
            os.close(read_end)
            os.dup2(write_end, fd)
        sys.stdout, sys.stderr = (open(fd, "w", closefd=False) for fd in (1, 2))  # noqa: SIM115 (never closed)
        os.environ.clear()
        os.environ.update(env)
        if control is not None:
            pause_writes(control)
        code = cli.main(args)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # nothing of the test process's (atexit handlers, pytest) runs in the child


def _drain(read_end: int, output: bytearray) -> None:
    with os.fdopen(read_end, "rb") as pipe:
        while chunk := pipe.read1(65536):
            output.extend(chunk)


if __name__ == "__main__":
    pause_writes(Path(sys.argv[1]))
    sys.exit(cli.main(sys.argv[2:]))
