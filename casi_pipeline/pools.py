"""Dagster concurrency pools: which steps may not run at the same time, in any run on any host.

A pool is a name on an asset; the instance (deploy/dagster.yaml: `concurrency: pools: default_limit: 1`, granularity
`op`) gives each pool that many slots, kept in the instance's database, so every run worker of every host takes
turns. A step claims its slot before it starts and frees it when it ends, whether the run was launched by the
daemon or executed in-process by `casi-pipeline` (the in-process executor claims slots too; tag limits of the run
queue would not cover that). One pool per family of tables a step writes:

- the release stages of any months: a month's stage also reads the month before, so months are not independent;
- the red-team stages;
- the cross-release tables and everything published from them (exports, charts, reports).

The default instance (SQLite, `casi-pipeline run` on one machine) sets no limit; the fcntl locks of
storage.warehouse.locked keep one host's runs apart there.
"""

RELEASE_POOL = "casi_release"
REDTEAM_POOL = "casi_redteam"
PUBLISHED_POOL = "casi_published"
POOLS = (RELEASE_POOL, REDTEAM_POOL, PUBLISHED_POOL)
