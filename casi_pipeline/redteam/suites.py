"""The red-team stages' suites: GX on the small tables (manifest, labels, boards), row rules in DuckDB on the raw
rows (every row, streamed). Each rule's description is the sentence a person reads when it fails."""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from casi_pipeline.quality.sql_rules import KeyRule, RowRule, SqlSuite
from casi_pipeline.quality.suite_parts import BOARD_LOCATION, MONTH_REGEX, SHA256_REGEX
from casi_pipeline.redteam.methodology import LEVELS
from casi_pipeline.redteam.raw import AGENTIC, ATTACKS, KINDS, RawKind
from casi_pipeline.reference import MODEL_ID

FILE_LOCATION = ("release_month", "source_file")
LABEL_LOCATION = ("release_month", "kind", "label")
LOW, HIGH = LEVELS[0], LEVELS[-1]


def ingest_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name="redteam_ingest",
        expectations=[
            gxe.ExpectColumnValuesToMatchRegex(
                column="release_month", regex=MONTH_REGEX, description="release_month is not YYYY-MM"
            ),
            gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=sorted(KINDS), description="unknown kind of file"),
            gxe.ExpectColumnValuesToMatchRegex(
                column="source_sha256", regex=SHA256_REGEX, description="source_sha256 is not a sha256"
            ),
            gxe.ExpectColumnValuesToBeBetween(column="rows", min_value=1, description="file has no rows"),
            gxe.ExpectColumnValuesToBeUnique(column="source_file", description="a file is listed twice"),
        ],
    )


def _text(kind: RawKind, column: str) -> RowRule:
    return RowRule(column, f"length(trim({column})) > 0", f"{kind.name}: {column} is missing or empty")


def scope(kind: RawKind) -> str:
    """The rows of one kind (the checked relation holds both kinds): the rules of a kind share one pass."""
    return f"kind = '{kind.name}'"


def _for(kind: RawKind, rule: RowRule) -> RowRule:
    return RowRule(rule.column, rule.valid, rule.description, where=scope(kind), reads=rule.reads)


def validate_suite() -> SqlSuite:
    levels = f"BETWEEN {LOW} AND {HIGH}"
    attacks = [
        *(_text(ATTACKS, c) for c in ("provider", "model", "attack_id", "attack_family")),
        RowRule("severity", f"severity {levels}", f"attacks: severity must be within {LOW}..{HIGH}"),
        RowRule("complexity", f"complexity {levels}", f"attacks: complexity must be within {LOW}..{HIGH}"),
        RowRule("trials", "trials >= 1", "attacks: trials must be 1 or more"),
        RowRule(
            "successes",
            "successes BETWEEN 0 AND trials",
            "attacks: successes must be within 0..trials",
            reads=("successes", "trials"),
        ),
    ]
    agentic = [
        *(_text(AGENTIC, c) for c in ("provider", "model", "campaign_id", "intent")),
        RowRule("breached", "breached IS NOT NULL", "agentic: breached is missing"),
        RowRule(
            "sophistication_at_breach",
            f"(breached AND sophistication_at_breach {levels}) OR (NOT breached AND sophistication_at_breach IS NULL)",
            f"agentic: sophistication_at_breach must be {LOW}..{HIGH} when breached and empty otherwise",
            reads=("breached", "sophistication_at_breach"),
        ),
        RowRule("max_turns", "max_turns >= 1", "agentic: max_turns must be 1 or more"),
        RowRule(
            "turns_survived",
            "turns_survived BETWEEN 0 AND max_turns AND (breached OR turns_survived = max_turns)",
            "agentic: turns_survived must be within 0..max_turns, and equal it when never breached",
            reads=("turns_survived", "max_turns", "breached"),
        ),
        RowRule("attempts", "attempts >= 1", "agentic: attempts must be 1 or more"),
        RowRule(
            "leaked_signals",
            "leaked_signals BETWEEN 0 AND attempts",
            "agentic: leaked_signals must be within 0..attempts",
            reads=("leaked_signals", "attempts"),
        ),
    ]
    return SqlSuite(
        "redteam_validate",
        (
            *(_for(ATTACKS, rule) for rule in attacks),
            *(_for(AGENTIC, rule) for rule in agentic),
            KeyRule(
                ("release_month", "kind", "attack_id"),
                ("severity", "complexity", "attack_family"),
                "attacks: one attack_id has two different severities, complexities or families",
                where=scope(ATTACKS),
            ),
            KeyRule(
                ("release_month", "kind", "provider", "model", "campaign_id"),
                (),
                "agentic: a model has the same campaign_id twice",
                where=scope(AGENTIC),
            ),
        ),
    )


def normalise_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name="redteam_normalise",
        expectations=[
            gxe.ExpectColumnValuesToMatchRegex(
                column="model_id", regex=MODEL_ID.pattern, description="model id is not `provider/model`"
            ),
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["release_month", "kind", "label"], description="a label is listed twice in one month"
            ),
        ],
    )


def scores_suite(boards: list[str]) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name="redteam_scores",
        expectations=[
            gxe.ExpectColumnValuesToBeInSet(column="board", value_set=boards, description="unknown board"),
            *(
                gxe.ExpectColumnValuesToBeBetween(
                    column=c, min_value=0, max_value=100, description=f"{c} must be within 0..100"
                )
                for c in ("score", "score_low", "score_high")
            ),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="score_high",
                column_B="score_low",
                or_equal=True,
                description="the interval's upper end is below its lower end",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="rank_best", min_value=1, description="best rank must be 1 or more"
            ),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="rank_worst",
                column_B="rank_best",
                or_equal=True,
                description="worst rank is above the best rank",
            ),
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=list(BOARD_LOCATION), description="a model is ranked twice on one board"
            ),
            gxe.ExpectColumnValuesToNotBeNull(column="methodology_version", description="no methodology version"),
        ],
    )


def reconciliation_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name="redteam_reconciliation",
        expectations=[
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=list(BOARD_LOCATION), description="a model is reconciled twice on one board"
            ),
            *(
                gxe.ExpectColumnValuesToNotBeNull(column=c, description=f"{c} is missing")
                for c in ("published_security", "redteam_score")
            ),
        ],
    )
