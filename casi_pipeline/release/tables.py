"""The four release-stage tables, declared once: stored dtypes, UI column schema and column lineage come from here."""

from __future__ import annotations

from casi_pipeline.reference import metric_catalogue
from casi_pipeline.storage.tables import Column, Table, model_identity

RAW = "raw_drops"
RAW_MONTH = "<Mon>"  # the rolling snapshot's month columns (Jun, Jul, ...)

PROVENANCE = (
    Column(
        "value_month",
        "str",
        "month the value belongs to; a file feeding this release month is kept whole, "
        "so rows of its other months come along",
    ),
    Column("drop_month", "str", "release drop (data_raw/<YYYY-MM>/) the value was read from"),
    Column("source_file", "str", "raw file the value was read from, as <raw root>/<drop>/<file>"),
    Column("source_sha256", "str", "sha256 of that raw file's bytes"),
    Column("source_row", "int", "line number of the value's row in the raw file (header is line 1)"),
    Column(
        "source_column", "str", "month column of a rolling snapshot; `score` for benchmarks.csv; empty for metrics.csv"
    ),
)


def _raw_metric_columns(dtype: str, upstream: str | None) -> tuple[Column, ...]:
    columns = []
    for name, metric in metric_catalogue().metrics.items():
        if not metric.raw:
            continue
        if upstream is None:
            lineage = ((RAW, name), (RAW, RAW_MONTH)) if name == "casi" else ((RAW, name),)
        else:
            lineage = ((upstream, name),)
        columns.append(Column(name, dtype, f"{metric.display}: {metric.description} ({metric.unit})", lineage))
    return tuple(columns)


INGEST = Table(
    "ingest",
    (
        Column("release_month", "str", "release month these files feed", ((RAW, RAW_MONTH),)),
        *PROVENANCE,
        Column(
            "label",
            "str",
            "model label as written: rolling `Model`, or metrics `provider` + ' ' + `model` "
            "(each part without surrounding spaces)",
            ((RAW, "Model"), (RAW, "provider"), (RAW, "model")),
        ),
        *_raw_metric_columns("str", None),
        Column(
            "benchmark",
            "str",
            "benchmarks.csv: benchmark name as written; empty for rows of other files",
            ((RAW, "benchmark"),),
        ),
        Column(
            "benchmark_score",
            "str",
            "benchmarks.csv: the model's score on that benchmark (0..100), as written",
            ((RAW, "score"),),
        ),
    ),
)

VALIDATE = Table(
    "validate",
    (
        Column("release_month", "str", "release month these files feed", (("ingest", "release_month"),)),
        *(Column(c.name, c.dtype, c.description, (("ingest", c.name),)) for c in PROVENANCE),
        Column("label", "str", "model label, surrounding spaces removed", (("ingest", "label"),)),
        *_raw_metric_columns("float", "ingest"),
        Column("benchmark", "str", "benchmark name, surrounding spaces removed", (("ingest", "benchmark"),)),
        Column(
            "benchmark_score", "float", "the model's score on that benchmark, 0..100", (("ingest", "benchmark_score"),)
        ),
    ),
)

METRIC_SOURCE_SUFFIX = "_source"
METRIC_SHA_SUFFIX = "_sha256"


def _winning_values() -> tuple[Column, ...]:
    columns = []
    for column in _raw_metric_columns("float", "validate"):
        columns.append(column)
        columns.append(
            Column(
                column.name + METRIC_SOURCE_SUFFIX,
                "str",
                f"where the {column.name} value came from: <file>:<row> of the newest drop carrying it",
                (("validate", "source_file"), ("validate", "source_row")),
            )
        )
        columns.append(
            Column(
                column.name + METRIC_SHA_SUFFIX,
                "str",
                f"sha256 of the file of {column.name}",
                (("validate", "source_sha256"),),
            )
        )
    return tuple(columns)


BENCHMARK_LINEAGE = (("validate", "benchmark"), ("validate", "benchmark_score"))

# Average Performance computed from benchmarks.csv with the benchmark catalogue (reference/benchmarks.yaml), kept
# beside the published `performance` so both can be compared.
COMPUTED_PERFORMANCE = (
    Column(
        "performance_computed",
        "float",
        "Average Performance computed from benchmarks.csv: weighted mean of the "
        "model's scores over the catalogue benchmarks it has; null below the catalogue's coverage threshold",
        BENCHMARK_LINEAGE,
    ),
    Column(
        "performance_coverage",
        "float",
        "share of the benchmark catalogue's weight the model has a score for (0..1); null when it has none",
        (("validate", "benchmark"),),
    ),
    Column(
        "performance_benchmarks",
        "str",
        "catalogue benchmarks the model has a score for, '; '-joined",
        (("validate", "benchmark"),),
    ),
    Column(
        "performance_catalogue_version",
        "str",
        "version of the benchmark catalogue (benchmarks.yaml) the computed value and coverage were computed with",
    ),
    Column(
        "performance_computed_source",
        "str",
        "where the benchmark scores came from: <file>:<row>,<row>,...",
        (("validate", "source_file"), ("validate", "source_row")),
    ),
    Column("performance_computed_sha256", "str", "sha256 of that benchmarks.csv", (("validate", "source_sha256"),)),
)

NORMALISE = Table(
    "normalise",
    (
        Column("release_month", "str", "release month", (("validate", "release_month"),)),
        Column(
            "model_id",
            "str",
            "canonical model id from the model registry (or derived from an unknown label)",
            (("validate", "label"),),
        ),
        Column("provider", "str", "canonical provider", (("validate", "label"),)),
        Column("model", "str", "canonical model display name", (("validate", "label"),)),
        Column("labels", "str", "every label seen for this model this month, '; '-joined", (("validate", "label"),)),
        Column("registered", "bool", "true when the model is in the registry", (("validate", "label"),)),
        Column("registry_version", "int", "version of models.yaml used for the matching"),
        *_winning_values(),
        *COMPUTED_PERFORMANCE,
    ),
)

LEADERBOARD = Table(
    "leaderboard",
    (
        Column("release_month", "str", "release month of the board", (("normalise", "release_month"),)),
        Column("board", "str", "CASI or ARS"),
        Column(
            "rank",
            "int",
            "competition rank by security, descending (ties share the lower rank: 1, 2, 2, 4)",
            (("normalise", "casi"), ("normalise", "ars")),
        ),
        Column(
            "tied",
            "bool",
            "true when another model on the board has the same security score",
            (("normalise", "casi"), ("normalise", "ars")),
        ),
        *model_identity("normalise"),
        Column(
            "security",
            "float",
            "the board's security score: CASI on the CASI board, ARS on the ARS board",
            (("normalise", "casi"), ("normalise", "ars")),
        ),
        Column(
            "performance",
            "float",
            "Average Performance, percent: the published value when the drop gives one, "
            "else the one computed from benchmarks.csv",
            (("normalise", "performance"), ("normalise", "performance_computed")),
        ),
        Column(
            "performance_basis",
            "str",
            "which performance the board uses: published (metrics.csv) or computed "
            "(benchmarks.csv + benchmark catalogue); null when there is neither",
            (("normalise", "performance"), ("normalise", "performance_computed")),
        ),
        Column(
            "performance_coverage",
            "float",
            "share of the catalogue's weight behind a computed performance; null when the published one is used",
            (("normalise", "performance_coverage"),),
        ),
        Column(
            "performance_catalogue_version",
            "str",
            "benchmark catalogue version of a computed performance; null when the published one is used",
            (("normalise", "performance_catalogue_version"),),
        ),
        Column(
            "rtp",
            "float",
            "Risk-to-Performance Ratio = w_s * security/100 + w_p * performance/100; null if unknown",
            (
                ("normalise", "casi"),
                ("normalise", "ars"),
                ("normalise", "performance"),
                ("normalise", "performance_computed"),
            ),
        ),
        Column(
            "cos_usd",
            "float",
            "Cost of Security = (input + output USD per Mtok) / (security/100); null if unknown",
            (
                ("normalise", "casi"),
                ("normalise", "ars"),
                ("normalise", "input_usd_per_mtok"),
                ("normalise", "output_usd_per_mtok"),
            ),
        ),
        Column(
            "security_change",
            "float",
            "security minus the same board's security in the previous release month; "
            "null when the model was not on that board",
            (("normalise", "casi"), ("normalise", "ars")),
        ),
        Column(
            "input_usd_per_mtok", "float", "list price per million input tokens", (("normalise", "input_usd_per_mtok"),)
        ),
        Column(
            "output_usd_per_mtok",
            "float",
            "list price per million output tokens",
            (("normalise", "output_usd_per_mtok"),),
        ),
        Column(
            "source_file",
            "str",
            "raw file the security score came from",
            (("normalise", "casi_source"), ("normalise", "ars_source")),
        ),
        Column(
            "source_row",
            "int",
            "line of the security score in that file",
            (("normalise", "casi_source"), ("normalise", "ars_source")),
        ),
        Column(
            "source_sha256",
            "str",
            "sha256 of that raw file",
            (("normalise", "casi_sha256"), ("normalise", "ars_sha256")),
        ),
        Column("methodology_version", "str", "version of methodology.yaml the board was scored with"),
    ),
)

_ANY_RAW_METRIC = tuple(("validate", name) for name in metric_catalogue().raw_metrics)

RESTATEMENTS = Table(
    "restatements",
    (
        Column("release_month", "str", "release month of the restated value", (("validate", "release_month"),)),
        Column("model_id", "str", "canonical model id", (("validate", "label"),)),
        Column("metric", "str", "the metric a newer drop restated (casi, ars, performance, a price)"),
        Column("old_value", "float", "the value in the older drop", _ANY_RAW_METRIC),
        Column(
            "old_source",
            "str",
            "where the old value came from: <file>:<row>",
            (("validate", "source_file"), ("validate", "source_row")),
        ),
        Column("new_value", "float", "the value in the newest drop, the one the boards use", _ANY_RAW_METRIC),
        Column(
            "new_source",
            "str",
            "where the new value came from: <file>:<row>",
            (("validate", "source_file"), ("validate", "source_row")),
        ),
    ),
)
