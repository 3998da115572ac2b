"""Download the publisher's file: a bounded size and a deadline per attempt, a few attempts for transient faults,
one-line errors."""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from casi_pipeline.settings import DEFAULT_UPSTREAM_MAX_BYTES

ATTEMPTS = 3
SCHEMES = ("http://", "https://", "file://")
# Worth another attempt: the server may recover. A 404 or a wrong body will not, so those fail at once.
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
CHUNK_BYTES = 64 * 1024


class FetchError(Exception):
    """The download failed; the message is one line naming the URL."""


class _Transient(Exception):
    pass


@dataclass(frozen=True)
class Download:
    url: str
    body: bytes
    content_type: str | None
    fetched_at: datetime


def _socket(response) -> socket.socket | None:
    """The connection under an HTTP response (None for file://), to shorten its timeout as the deadline nears.
    http.client keeps it as response.fp.raw._sock; there is no public accessor."""
    return getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)


def _read_body(response, url: str, deadline: float, max_bytes: int) -> bytes:
    """The whole body, refused past `max_bytes` or past the attempt's deadline, however slowly it arrives."""
    announced = response.headers.get("Content-Length")
    if announced and announced.isdigit() and int(announced) > max_bytes:
        raise FetchError(
            f"{url}: body of {int(announced):,} bytes announced, more than the limit of {max_bytes:,} bytes"
        )
    connection, received, size = _socket(response), [], 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if connection is not None:
            connection.settimeout(remaining)  # a server dripping bytes cannot stretch the attempt past its deadline
        chunk = response.read1(CHUNK_BYTES)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"{url}: body larger than the limit of {max_bytes:,} bytes (stopped reading)")
        received.append(chunk)
    if announced and announced.isdigit() and size < int(announced):
        raise _Transient(f"truncated body: {size} bytes of {announced} announced")
    return b"".join(received)


def _get(url: str, timeout: float, max_bytes: int) -> Download:
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            content_type = response.headers.get("Content-Type")
            body = _read_body(response, url, deadline, max_bytes)
    except urllib.error.HTTPError as error:
        error.close()  # it holds the response's socket
        what = f"HTTP {error.code} {error.reason}"
        if error.code in TRANSIENT_STATUS:
            raise _Transient(what) from None
        raise FetchError(f"{url}: {what}") from None
    except http.client.IncompleteRead as error:
        raise _Transient(
            f"truncated body: {len(error.partial)} bytes of {len(error.partial) + (error.expected or 0)} announced"
        ) from None
    except (TimeoutError, urllib.error.URLError, ConnectionError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            raise _Transient(f"timed out after {timeout:g} s") from None
        if isinstance(error, urllib.error.URLError) and isinstance(reason, FileNotFoundError):
            raise FetchError(f"{url}: no such file") from None
        raise _Transient(f"{type(reason).__name__}: {reason}") from None
    return Download(url, body, content_type, datetime.now(UTC))


def fetch(
    url: str,
    timeout: float,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    max_bytes: int = DEFAULT_UPSTREAM_MAX_BYTES,
) -> Download:
    """GET `url` (http, https or file). Each attempt, from connecting to the last byte, must end within `timeout`
    seconds and `max_bytes` bytes; a body over the limit fails at once. Transient faults are retried; the pause
    doubles from 1 s but never exceeds the timeout, so a short timeout also keeps the retries short."""
    if not url.startswith(SCHEMES):
        raise FetchError(f"{url}: only http://, https:// and file:// sources are supported")
    pause = 1.0
    for attempt in range(1, attempts + 1):
        try:
            return _get(url, timeout, max_bytes)
        except _Transient as error:
            failure = error
        if attempt < attempts:
            sleep(min(pause, timeout))
            pause *= 2
    raise FetchError(f"{url}: {failure} (gave up after {attempts} attempts)")
