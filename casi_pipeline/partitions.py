"""The release-month partitions shared by the release and red-team chains, and their backfill policy."""

from __future__ import annotations

import dagster as dg

from casi_pipeline.factory import beta_api
from casi_pipeline.settings import first_release_month

release_month_partitions = dg.MonthlyPartitionsDefinition(
    start_date=first_release_month(),
    fmt="%Y-%m",
    end_offset=1,  # the current month is a valid release month: boards are published during their month
)

with beta_api():
    one_run_per_backfill = dg.BackfillPolicy.single_run()  # a backfill of any range of months is one run
