"""The upstream source as a Dagster resource, so the scheduled refresh can point anywhere (tests: 127.0.0.1)."""

from __future__ import annotations

import dagster as dg


class UpstreamSource(dg.ConfigurableResource):
    """Where the publisher's rolling snapshot is downloaded from (http, https or file URL)."""

    url: str
    timeout_seconds: float
