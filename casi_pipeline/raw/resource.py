"""The raw root as a Dagster resource, so tests and deployments point it anywhere."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from casi_pipeline.raw import drops


class RawDrops(dg.ConfigurableResource):
    """Release drops under `root` (data_raw/<YYYY-MM>/). The stages only read them; the refresh only adds files."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)

    def release_months(self) -> list[str]:
        return drops.release_months(self.path)
