"""Pieces every domain's suites share: value patterns, the columns that locate a bad value, month expectations."""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

MONTH_REGEX = r"^\d{4}-(?:0[1-9]|1[0-2])$"
SHA256_REGEX = r"^[0-9a-f]{64}$"

# Columns that locate a bad value, in the order a message names them.
RAW_LOCATION = ("release_month", "source_file", "source_row", "source_column")
BOARD_LOCATION = ("release_month", "board", "model_id")


def suite(name: str, expectations: list) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(name=name, expectations=expectations)


def month_expectations(*columns: str) -> list:
    """Each column is set and a `YYYY-MM` month."""
    return [
        expectation
        for column in columns
        for expectation in (
            gxe.ExpectColumnValuesToNotBeNull(column=column, description=f"{column} is missing"),
            gxe.ExpectColumnValuesToMatchRegex(
                column=column, regex=MONTH_REGEX, description=f"{column} is not YYYY-MM"
            ),
        )
    ]
