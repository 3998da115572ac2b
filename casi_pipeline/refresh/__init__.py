"""Refresh from upstream: download the publisher's rolling snapshot and land it as a new (or restated) drop."""

from __future__ import annotations

from datetime import date

from casi_pipeline.errors import RawInputError
from casi_pipeline.refresh.fetch import FetchError, fetch
from casi_pipeline.refresh.land import Landed, check, land
from casi_pipeline.settings import DEFAULT_UPSTREAM_MAX_BYTES
from casi_pipeline.storage.objects import Root, StorageError

# Every way a refresh can fail; each message is one line naming the URL or the object (and the row or column where
# known). FileExistsError: another writer landed the same file name first (it is never replaced).
REFRESH_ERRORS = (FetchError, RawInputError, StorageError, FileExistsError)


def refresh(
    root: Root, url: str, timeout: float, today: date | None = None, max_bytes: int = DEFAULT_UPSTREAM_MAX_BYTES
) -> Landed | None:
    """Land the upstream file if it is new or changed; None when it is unchanged. Nothing is written on error."""
    return land(root, check(fetch(url, timeout, max_bytes=max_bytes), today or date.today()))
