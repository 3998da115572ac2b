"""Roots on object storage: `s3://bucket/prefix` for CASI_DATA_RAW and CASI_WAREHOUSE, beside local folders.

`open_root` turns a root setting into the path object every reader and writer uses: a local root stays a plain
`pathlib.Path` (nothing changes for it), an `s3://` root becomes an `ObjectPath`, which offers the part of Path's
interface the pipeline uses, over `pyarrow.fs.S3FileSystem`. Credentials, region and endpoint come from the standard
variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL).

An object is written with one PUT (or a multipart upload completed at the end), so a reader sees the old object or
the new one; `put_new` adds a conditional PUT (`If-None-Match: *`) so a landed raw file is never replaced.
"""

from __future__ import annotations

import datetime
import fnmatch
import hashlib
import hmac
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path, PurePosixPath

import pyarrow.fs as pafs

SCHEME = "s3://"
DEFAULT_REGION = "us-east-1"
# Every wait on the object store is bounded: a connection attempt, a request, and the attempts for transient faults.
CONNECT_TIMEOUT_SECONDS = 5.0
REQUEST_TIMEOUT_SECONDS = 60.0
MAX_ATTEMPTS = 3


class StorageError(OSError):
    """An object-store fault, as one line naming the location and what failed."""


def is_object_uri(text: str) -> bool:
    return str(text).startswith(SCHEME)


def open_root(root: str | Path) -> Root:
    """A root setting as a path: `s3://bucket/prefix` -> ObjectPath, anything else -> an absolute local Path."""
    if isinstance(root, ObjectPath):
        return root
    if is_object_uri(str(root)):
        return ObjectPath(str(root)[len(SCHEME) :])
    return Path(root).resolve()


def endpoint() -> str:
    region = os.environ.get("AWS_REGION") or DEFAULT_REGION
    return (os.environ.get("AWS_ENDPOINT_URL") or f"https://s3.{region}.amazonaws.com").rstrip("/")


@lru_cache(maxsize=4)
def _filesystem(
    endpoint_url: str, region: str, key: str | None, secret: str | None, token: str | None
) -> pafs.S3FileSystem:
    parts = urllib.parse.urlsplit(endpoint_url)
    return pafs.S3FileSystem(
        access_key=key,
        secret_key=secret,
        session_token=token,
        region=region,
        endpoint_override=parts.netloc,
        scheme=parts.scheme or "https",
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        request_timeout=REQUEST_TIMEOUT_SECONDS,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=MAX_ATTEMPTS),
        # Only the operator creates buckets: a mistyped bucket name must fail, not appear.
        allow_bucket_creation=False,
        allow_bucket_deletion=False,
    )


def filesystem() -> pafs.S3FileSystem:
    """The S3 filesystem of the current AWS_* variables (one per distinct setting, reused)."""
    return _filesystem(
        endpoint(),
        os.environ.get("AWS_REGION") or DEFAULT_REGION,
        os.environ.get("AWS_ACCESS_KEY_ID"),
        os.environ.get("AWS_SECRET_ACCESS_KEY"),
        os.environ.get("AWS_SESSION_TOKEN"),
    )


def in_use() -> bool:
    """True once an object root has been touched in this process (so DuckDB connections need the filesystem)."""
    return _filesystem.cache_info().currsize > 0


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class ObjectPath:
    """A key (or key prefix) under an s3:// root, with the subset of pathlib.Path the pipeline uses.

    Object stores have no folders: a "directory" is a key prefix that some object has, `mkdir` does nothing, and a
    listing returns the objects and prefixes one level down.
    """

    __slots__ = ("_key", "_type")

    def __init__(self, key: str, file_type: pafs.FileType | None = None):
        self._key = str(PurePosixPath(key.strip("/")))
        self._type = file_type  # known from a listing, saves a request

    # --- pure path operations -------------------------------------------------------------------------------------
    def __truediv__(self, other: str) -> ObjectPath:
        return ObjectPath(f"{self._key}/{other}")

    def joinpath(self, *parts: str) -> ObjectPath:
        return ObjectPath("/".join([self._key, *parts]))

    @property
    def name(self) -> str:
        return PurePosixPath(self._key).name

    def with_name(self, name: str) -> ObjectPath:
        return self.parent / name

    @property
    def parent(self) -> ObjectPath:
        return ObjectPath(str(PurePosixPath(self._key).parent))

    @property
    def bucket(self) -> str:
        return self._key.split("/", 1)[0]

    @property
    def key(self) -> str:
        """`bucket/key`, as pyarrow's S3FileSystem names it."""
        return self._key

    def relative_to(self, other: ObjectPath) -> PurePosixPath:
        return PurePosixPath(self._key).relative_to(other._key)

    def as_posix(self) -> str:
        return SCHEME + self._key

    def __str__(self) -> str:
        return self.as_posix()

    def __repr__(self) -> str:
        return f"ObjectPath({self.as_posix()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectPath) and other._key == self._key

    def __lt__(self, other: ObjectPath) -> bool:
        return self._key < other._key

    def __hash__(self) -> int:
        return hash(self._key)

    # --- the store ------------------------------------------------------------------------------------------------
    def _call(self, what: str, operation, *args):
        try:
            return operation(*args)
        except FileNotFoundError:
            raise
        except OSError as error:
            raise StorageError(f"{self.as_posix()}: {what} failed: {_first_line(error)}") from None

    def _info_type(self) -> pafs.FileType:
        if self._type is None:
            self._type = self._call("stat", filesystem().get_file_info, self._key).type
        return self._type

    def exists(self) -> bool:
        return self._info_type() != pafs.FileType.NotFound

    def stat(self) -> os.stat_result:
        """Size and modification time, as os.stat gives them (the rest zero)."""
        info = self._call("stat", filesystem().get_file_info, self._key)
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(self.as_posix())
        mtime_ns = info.mtime_ns or 0
        return os.stat_result(
            (
                0,
                0,
                0,
                0,
                0,
                0,
                info.size or 0,
                mtime_ns // 10**9,
                mtime_ns // 10**9,
                mtime_ns // 10**9,
                0,
                0,
                0,
                mtime_ns,
                mtime_ns,
                mtime_ns,
            )
        )

    def is_file(self) -> bool:
        return self._info_type() == pafs.FileType.File

    def is_dir(self) -> bool:
        return self._info_type() == pafs.FileType.Directory

    def _listing(self, recursive: bool) -> list[ObjectPath]:
        selector = pafs.FileSelector(self._key, allow_not_found=True, recursive=recursive)
        return [ObjectPath(info.path, info.type) for info in self._call("list", filesystem().get_file_info, selector)]

    def iterdir(self) -> Iterator[ObjectPath]:
        return iter(self._listing(recursive=False))

    def glob(self, pattern: str) -> Iterator[ObjectPath]:
        """Names matching `pattern` one level down (the only form the pipeline uses, e.g. `*.parquet`)."""
        return (path for path in self._listing(recursive=False) if fnmatch.fnmatchcase(path.name, pattern))

    def rglob(self, pattern: str) -> Iterator[ObjectPath]:
        return (path for path in self._listing(recursive=True) if fnmatch.fnmatchcase(path.name, pattern))

    def open(self, mode: str = "rb"):
        """A seekable pyarrow input file (reads are ranged requests: a Parquet footer costs one)."""
        if mode != "rb":
            raise ValueError(f"{self.as_posix()}: objects are opened for reading only; write with write_bytes")
        return self._call("read", filesystem().open_input_file, self._key)

    def read_bytes(self) -> bytes:
        with self.open() as source:
            return source.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        """One whole object: readers see it only once the upload is complete."""

        def put():
            with filesystem().open_output_stream(self._key) as sink:
                sink.write(data)

        self._call("write", put)
        self._type = pafs.FileType.File

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to create: a prefix exists once an object has it."""

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self._call("delete", filesystem().delete_file, self._key)
        except FileNotFoundError:
            if not missing_ok:
                raise
        self._type = pafs.FileType.NotFound


Root = Path | ObjectPath  # a raw root or warehouse: a local folder or s3://bucket/prefix


def relative_to(path: Root, root: Root) -> PurePosixPath:
    """`path` below `root`, both local or both objects under one s3:// root (`Path.relative_to` otherwise)."""
    if isinstance(path, ObjectPath):
        assert isinstance(root, ObjectPath), f"{path} is an object, {root} a local folder"
        return path.relative_to(root)
    assert isinstance(root, Path), f"{path} is a local file, {root} an object root"
    return PurePosixPath(path.relative_to(root).as_posix())


def check_root(root: Root, what: str) -> None:
    """Raise StorageError naming the root when its bucket is missing or the store refuses or cannot be reached:
    before a run starts, so a misconfigured deployment writes nothing. Local roots need no check."""
    if not isinstance(root, ObjectPath):
        return
    try:
        bucket = filesystem().get_file_info(root.bucket)
    except OSError as error:
        text = str(error)
        if "ACCESS_DENIED" in text or "SIGNATURE_DOES_NOT_MATCH" in text or "InvalidAccessKeyId" in text:
            reason = "access denied: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        elif "curlCode" in text or "NETWORK_CONNECTION" in text or "Couldn't connect" in text:
            reason = f"cannot reach the object store at {endpoint()} (AWS_ENDPOINT_URL)"
        else:
            reason = _first_line(error)
        raise StorageError(f"{root.as_posix()}: {what}: {reason}") from None
    if bucket.type == pafs.FileType.NotFound:
        raise StorageError(f"{root.as_posix()}: {what}: bucket {root.bucket} does not exist")


# --- a PUT that never replaces ----------------------------------------------------------------------------------


def _signing_key(secret: str, day: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def put_new(path: ObjectPath, data: bytes) -> None:
    """PUT with `If-None-Match: *`: the store refuses (412) when the key exists, so two writers can never replace
    each other's landed file. pyarrow cannot send that header, so this one request is signed here (AWS SigV4,
    path-style). Raises FileExistsError when the object exists, StorageError for any other refusal."""
    region = os.environ.get("AWS_REGION") or DEFAULT_REGION
    base = urllib.parse.urlsplit(endpoint())
    now = datetime.datetime.now(datetime.UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    resource = "/" + urllib.parse.quote(path.key, safe="/-_.~")
    headers = {
        "host": base.netloc,
        "if-none-match": "*",
        "x-amz-content-sha256": hashlib.sha256(data).hexdigest(),
        "x-amz-date": stamp,
    }
    if os.environ.get("AWS_SESSION_TOKEN"):
        headers["x-amz-security-token"] = os.environ["AWS_SESSION_TOKEN"]
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            "PUT",
            resource,
            "",
            *(f"{name}:{headers[name]}" for name in sorted(headers)),
            "",
            signed,
            headers["x-amz-content-sha256"],
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(
        _signing_key(os.environ.get("AWS_SECRET_ACCESS_KEY", ""), day, region), to_sign.encode(), hashlib.sha256
    ).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={os.environ.get('AWS_ACCESS_KEY_ID', '')}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    request = urllib.request.Request(
        f"{base.scheme}://{base.netloc}{resource}", data=data, method="PUT", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS):
            return
    except urllib.error.HTTPError as error:
        if error.code == 412:
            raise FileExistsError(f"{path.as_posix()}: already exists; a landed file is never replaced") from None
        raise StorageError(f"{path.as_posix()}: conditional write refused: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError) as error:
        raise StorageError(f"{path.as_posix()}: write failed: {_first_line(error)}") from None
