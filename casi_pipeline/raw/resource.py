"""The raw root as a Dagster resource, so tests and deployments point it anywhere."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from casi_pipeline.raw import layout
from casi_pipeline.storage.objects import ObjectPath, open_root


class RawDrops(dg.ConfigurableResource):
    """Release drops under `root` (data_raw/<YYYY-MM>/). The stages only read them; the refresh only adds files."""

    root: str

    @property
    def path(self) -> Path | ObjectPath:
        """A local folder or an `s3://bucket/prefix` (storage.objects): every drop is read through it."""
        return open_root(self.root)

    def release_months(self) -> list[str]:
        return layout.release_months(self.path)
