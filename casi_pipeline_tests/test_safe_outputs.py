"""Labels come from outside: hostile ones flow through the pipeline verbatim as data, and are escaped wherever the
project renders them (the Markdown previews and check summaries shown in the Dagster UI)."""

import csv
import io

import pytest

from casi_pipeline.published.assets import assets as published
from casi_pipeline.release.assets import raw_drops, release_stages
from casi_pipeline.storage import parquet_io, warehouse
from casi_pipeline.safe_text import escape_markdown

from .conftest import add_drop, materialize, read_table

HOSTILE_PROVIDERS = ['=HYPERLINK("http://x","y")', "<script>alert(1)</script>", "+cmd|calc"]


def rolling_with_hostile_labels() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Model", "Nov"])
    writer.writerows([[f"{provider} M", f"{90 + n}.5"] for n, provider in enumerate(HOSTILE_PROVIDERS)])
    return out.getvalue()


def previews(result) -> dict[str, str]:
    return {event.asset_key.path[-1]: event.materialization.metadata["preview"].value
            for event in result.get_asset_materialization_events() if "preview" in event.materialization.metadata}


def test_hostile_labels_are_data_in_parquet_and_escaped_in_previews(settings):
    add_drop(settings.data_raw, "2025-11", {"casi_rolling_12_months.csv": rolling_with_hostile_labels()})
    release = materialize(settings, [raw_drops, release_stages], "2025-11")
    cross_release = materialize(settings, [raw_drops, release_stages, *published], selection=published)
    assert release.success and cross_release.success
    board = read_table(settings.warehouse, "leaderboard")
    assert board["provider"].tolist() == list(reversed(HOSTILE_PROVIDERS))  # verbatim, best score first
    assert set(board["model"]) == {"M"}
    shown = previews(release) | previews(cross_release)
    for asset in ("leaderboard", "leaderboard_history", "models"):
        preview = shown[asset]
        for provider in HOSTILE_PROVIDERS:
            assert escape_markdown(provider) in preview, asset
        assert "<script>" not in preview and "cmd|calc" not in preview, asset  # no raw HTML, no table break


@pytest.mark.parametrize("name", ["../2025-11", "2025-13", "latest"])
def test_no_warehouse_path_is_built_from_anything_but_a_release_month(tmp_path, name):
    with pytest.raises(ValueError, match="is not a release month"):
        parquet_io.partition_path(tmp_path, "leaderboard", name)
    with pytest.raises(ValueError, match="is not a release month"), warehouse.locked(tmp_path, [name]):
        pass
    assert not (tmp_path / ".locks" / f"{name}.lock").exists()
