"""Download the publisher's file: a timeout per attempt, a few attempts for transient faults, one-line errors."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

ATTEMPTS = 3
SCHEMES = ("http://", "https://", "file://")
# Worth another attempt: the server may recover. A 404 or a wrong body will not, so those fail at once.
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


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


def _get(url: str, timeout: float) -> Download:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            content_type = response.headers.get("Content-Type")
            body = response.read()
    except urllib.error.HTTPError as error:
        error.close()  # it holds the response's socket
        what = f"HTTP {error.code} {error.reason}"
        if error.code in TRANSIENT_STATUS:
            raise _Transient(what) from None
        raise FetchError(f"{url}: {what}") from None
    except http.client.IncompleteRead as error:
        raise _Transient(f"truncated body: {len(error.partial)} bytes of "
                         f"{len(error.partial) + (error.expected or 0)} announced") from None
    except (TimeoutError, urllib.error.URLError, ConnectionError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            raise _Transient(f"timed out after {timeout:g} s") from None
        if isinstance(error, urllib.error.URLError) and isinstance(reason, FileNotFoundError):
            raise FetchError(f"{url}: no such file") from None
        raise _Transient(f"{type(reason).__name__}: {reason}") from None
    return Download(url, body, content_type, datetime.now(UTC))


def fetch(url: str, timeout: float, attempts: int = ATTEMPTS,
          sleep: Callable[[float], None] = time.sleep) -> Download:
    """GET `url` (http, https or file). Transient faults are retried; the pause doubles from 1 s but never exceeds
    the timeout, so a short timeout also keeps the retries short."""
    if not url.startswith(SCHEMES):
        raise FetchError(f"{url}: only http://, https:// and file:// sources are supported")
    pause = 1.0
    for attempt in range(1, attempts + 1):
        try:
            return _get(url, timeout)
        except _Transient as error:
            failure = error
        if attempt < attempts:
            sleep(min(pause, timeout))
            pause *= 2
    raise FetchError(f"{url}: {failure} (gave up after {attempts} attempts)")
