"""The red-team tables, declared once: stored dtypes, UI column schema and column lineage come from here."""

from __future__ import annotations

from casi_pipeline.storage.tables import Column, Table, model_identity

RAW = "redteam_raw"

MANIFEST = (
    Column("release_month", "str", "release month (the drop's folder) the file belongs to"),
    Column("kind", "str", "attacks or agentic (the drop's sub-folder)"),
    Column("source_file", "str", "raw Parquet file, as <raw root>/<drop>/<kind>/<file>"),
    Column("source_sha256", "str", "sha256 of the file's bytes"),
    Column("rows", "int", "rows in the file (from its footer)"),
)

INGEST = Table(
    "redteam_ingest",
    (
        *(Column(c.name, c.dtype, c.description, ((RAW, "*"),)) for c in MANIFEST),
        Column("row_groups", "int", "Parquet row groups in the file", ((RAW, "*"),)),
    ),
)

VALIDATE = Table(
    "redteam_validate",
    (
        *(Column(c.name, c.dtype, c.description, (("redteam_ingest", c.name),)) for c in MANIFEST),
        Column("rules_passed", "int", "row and key rules every row of the file passed (the suite checks all rows)"),
    ),
)

NORMALISE = Table(
    "redteam_normalise",
    (
        Column("release_month", "str", "release month", (("redteam_validate", "release_month"),)),
        Column("kind", "str", "attacks or agentic", (("redteam_validate", "kind"),)),
        Column(
            "label",
            "str",
            "`<provider> <model>` as written in the raw files (trimmed)",
            ((RAW, "provider"), (RAW, "model")),
        ),
        Column(
            "model_id",
            "str",
            "canonical model id from the model registry (or derived from an unknown label)",
            ((RAW, "provider"), (RAW, "model")),
        ),
        Column("provider", "str", "canonical provider", ((RAW, "provider"),)),
        Column("model", "str", "canonical model display name", ((RAW, "model"),)),
        Column("registered", "bool", "true when the model is in the registry"),
        Column("registry_version", "int", "version of models.yaml used for the matching"),
        Column("rows", "int", "raw rows with this label this month"),
    ),
)

SCORES = Table(
    "redteam_scores",
    (
        Column("release_month", "str", "release month of the board", (("redteam_normalise", "release_month"),)),
        Column("board", "str", "CASI (security score from attacks) or ARS (from agentic campaigns)"),
        Column(
            "rank",
            "int",
            "competition rank by score, descending (ties share the lower rank: 1, 2, 2, 4)",
            ((RAW, "successes"), (RAW, "breached")),
        ),
        Column("tied", "bool", "true when another model on the board has the same score"),
        *model_identity("redteam_normalise"),
        Column(
            "score",
            "float",
            "0..100, higher is more secure: CASI-style on CASI, ARS-style on ARS (docs/methodology.md)",
            (
                (RAW, "severity"),
                (RAW, "complexity"),
                (RAW, "trials"),
                (RAW, "successes"),
                (RAW, "breached"),
                (RAW, "sophistication_at_breach"),
                (RAW, "turns_survived"),
                (RAW, "max_turns"),
                (RAW, "leaked_signals"),
                (RAW, "attempts"),
            ),
        ),
        Column("score_low", "float", "lower end of the bootstrap interval (resampling attacks or campaigns)"),
        Column("score_high", "float", "upper end of the bootstrap interval"),
        Column("rank_best", "int", "best plausible rank: 1 + models whose interval lies wholly above this one's"),
        Column("rank_worst", "int", "worst plausible rank: models on the board minus those wholly below this one"),
        Column(
            "units",
            "int",
            "attacks (CASI) or campaigns (ARS) the model faced",
            ((RAW, "attack_id"), (RAW, "campaign_id")),
        ),
        Column("trials", "int", "trials (CASI) or campaigns (ARS)", ((RAW, "trials"),)),
        Column(
            "breaches",
            "int",
            "successful trials (CASI) or breached campaigns (ARS)",
            ((RAW, "successes"), (RAW, "breached")),
        ),
        Column(
            "required_sophistication",
            "float",
            "ARS: mean Required Sophistication, 0..1 (null on CASI)",
            ((RAW, "breached"), (RAW, "sophistication_at_breach")),
        ),
        Column(
            "defensive_endurance",
            "float",
            "ARS: mean Defensive Endurance, 0..1 (null on CASI)",
            ((RAW, "turns_survived"), (RAW, "max_turns")),
        ),
        Column(
            "counter_intelligence",
            "float",
            "ARS: mean Counter-Intelligence, 0..1 (null on CASI)",
            ((RAW, "leaked_signals"), (RAW, "attempts")),
        ),
        Column("methodology_version", "str", "version of redteam/methodology.yaml the row was scored with"),
    ),
)

RECONCILIATION = Table(
    "redteam_reconciliation",
    (
        Column(
            "release_month",
            "str",
            "release month",
            (("redteam_scores", "release_month"), ("leaderboard", "release_month")),
        ),
        Column("board", "str", "CASI or ARS", (("redteam_scores", "board"), ("leaderboard", "board"))),
        Column("model_id", "str", "canonical model id", (("redteam_scores", "model_id"), ("leaderboard", "model_id"))),
        Column("provider", "str", "canonical provider", (("leaderboard", "provider"),)),
        Column("model", "str", "canonical model display name", (("leaderboard", "model"),)),
        Column("published_security", "float", "the published board's security score", (("leaderboard", "security"),)),
        Column("published_rank", "int", "the model's rank on the published board", (("leaderboard", "rank"),)),
        Column("redteam_score", "float", "the score computed here from raw results", (("redteam_scores", "score"),)),
        Column("redteam_low", "float", "lower end of its bootstrap interval", (("redteam_scores", "score_low"),)),
        Column("redteam_high", "float", "upper end of its bootstrap interval", (("redteam_scores", "score_high"),)),
        Column("redteam_rank", "int", "the model's rank on the board computed here", (("redteam_scores", "rank"),)),
        Column("difference", "float", "redteam_score minus published_security"),
        Column("published_within_interval", "bool", "true when the published score lies inside the interval"),
        Column(
            "published_methodology_version",
            "str",
            "methodology of the published board",
            (("leaderboard", "methodology_version"),),
        ),
        Column(
            "redteam_methodology_version",
            "str",
            "methodology of the score computed here",
            (("redteam_scores", "methodology_version"),),
        ),
    ),
)
