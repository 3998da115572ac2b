"""The upstream source as a Dagster resource, so the scheduled refresh can point anywhere (tests: 127.0.0.1)."""

from __future__ import annotations

import dagster as dg

from casi_pipeline.settings import DEFAULT_UPSTREAM_MAX_BYTES


class UpstreamSource(dg.ConfigurableResource):
    """Where the publisher's rolling snapshot is downloaded from (http, https or file URL)."""

    url: str
    timeout_seconds: float
    max_bytes: int = DEFAULT_UPSTREAM_MAX_BYTES
