"""The suites of the cross-release tables (models, leaderboard_history)."""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from casi_pipeline.quality.suite_parts import month_expectations, suite
from casi_pipeline.reference import Methodology


def models_suite() -> gx.ExpectationSuite:
    return suite(
        "models",
        [
            gxe.ExpectColumnValuesToNotBeNull(column="model_id", description="model has no id"),
            gxe.ExpectColumnValuesToBeUnique(column="model_id", description="a model id appears twice"),
            *month_expectations("first_release_month", "last_release_month"),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="last_release_month",
                column_B="first_release_month",
                or_equal=True,
                description="last release month is before the first",
            ),
        ],
    )


def history_suite(methodology: Methodology) -> gx.ExpectationSuite:
    return suite(
        "leaderboard_history",
        [
            *month_expectations("release_month"),
            gxe.ExpectColumnValuesToBeInSet(
                column="board", value_set=sorted(methodology.boards), description="unknown board"
            ),
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["release_month", "board", "model_id"], description="a model is ranked twice on one board"
            ),
        ],
    )
