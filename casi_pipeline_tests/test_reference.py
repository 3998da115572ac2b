"""The model registry, metric catalogue and methodology: matching rules and located errors."""

from pathlib import Path

import pytest

from casi_pipeline.errors import ReferenceDataError
from casi_pipeline.reference import (
    Methodology, MetricCatalogue, Registry, load, match_key, methodology, metric_catalogue, registry,
)


@pytest.mark.parametrize("label", ["OpenAI GPT-5 Nano", "OpenAI GPT 5 Nano", "openai gpt-5-nano", " OPENAI  GPT_5_NANO "])
def test_matching_ignores_case_and_separators(label):
    assert registry().resolve(label).id == "openai/gpt-5-nano"


@pytest.mark.parametrize("label, model_id", [
    ("Alibaba_Qwen Qwen3-14B", "qwen/qwen3-14b"),
    ("Qwen Qwen3-14B", "qwen/qwen3-14b"),
    ("Alibaba_Qwen Qwen3-30B-A3B", "qwen/qwen3-30b-a3b"),
    ("Qwen Qwen3-30B", "qwen/qwen3-30b-a3b"),
    ("Qwen Qwen3-30B-A3B", "qwen/qwen3-30b-a3b"),
    ("DeepSeek DeepSeek-R1-Distill-Llama-70B", "deepseek/deepseek-r1-distill-llama-70b"),
    ("Meta DeepSeek-R1-Distill-Llama-70B", "deepseek/deepseek-r1-distill-llama-70b"),
    ("DeepSeek DeepSeek-R1", "deepseek/deepseek-r1"),
    ("DeepSeek DeepSeek-R1-0528", "deepseek/deepseek-r1-0528"),
])
def test_known_merges_hold_and_r1_checkpoints_stay_apart(label, model_id):
    assert registry().resolve(label).id == model_id


def test_dots_are_significant():
    assert match_key("OpenAI GPT-5.1") != match_key("OpenAI GPT-51")
    assert registry().resolve("OpenAI GPT-51") is None


def test_unknown_label_is_not_matched():
    assert registry().resolve("Acme Rocket-1") is None


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "file.yaml"
    path.write_text(text)
    return path


def test_registry_alias_claimed_twice_is_located(tmp_path):
    path = write(tmp_path, """
version: 1
models:
  - {id: a/one, provider: A, model: One}
  - {id: a/two, provider: A, model: Two, aliases: [A Extra, "a one"]}
""")
    with pytest.raises(ReferenceDataError, match=r"file\.yaml: models\[1\]\.aliases\[1\]: label 'a one' already matches a/one"):
        load(path, Registry)


def test_registry_bad_id_is_located(tmp_path):
    path = write(tmp_path, "version: 1\nmodels:\n  - {id: Not An Id, provider: A, model: B}\n")
    with pytest.raises(ReferenceDataError, match=r"models\[0\]\.id: 'Not An Id' is not `provider/model`"):
        load(path, Registry)


def test_registry_missing_field_is_located(tmp_path):
    path = write(tmp_path, "version: 1\nmodels:\n  - {id: a/b, model: B}\n")
    with pytest.raises(ReferenceDataError, match=r"models\[0\]\.provider: expected str, got None"):
        load(path, Registry)


def test_catalogue_inverted_range_is_located(tmp_path):
    path = write(tmp_path, """
version: 1
metrics:
  casi: {display: C, description: d, unit: u, min: 100, max: 0, higher_is_better: true, decimals: 2, raw: true}
""")
    with pytest.raises(ReferenceDataError, match=r"metrics\.casi: min 100 is above max 0"):
        load(path, MetricCatalogue)


def test_methodology_weights_must_add_up(tmp_path):
    path = write(tmp_path, """
version: x
boards: {CASI: casi}
rtp: {security_weight: 0.6, performance_weight: 0.5}
""")
    with pytest.raises(ReferenceDataError, match=r"rtp: weights must add up to 1"):
        load(path, Methodology)


def test_methodology_board_metric_must_exist(tmp_path):
    path = write(tmp_path, "version: x\nboards: {CASI: nope}\nrtp: {security_weight: 0.6, performance_weight: 0.4}\n")
    with pytest.raises(ReferenceDataError, match=r"boards\.CASI: 'nope' is not in the metric catalogue"):
        load(path, Methodology)


@pytest.mark.parametrize("kind, text, message", [
    (Registry, "version: x\nmodels: []\n", r"version: expected int, got 'x'"),
    (Registry, "version: 1\nmodels:\n  - {id: a/b, provider: A, model: B}\n  - a/c\n",
     r"models\[1\]: expected a mapping"),
    (Registry, "version: 1\nmodels:\n  - {id: a/b, provider: A, model: B, aliases: A B2}\n",
     r"models\[0\]\.aliases: expected a list of labels"),
    (MetricCatalogue, "version: 1\nmetrics:\n  casi: {display: C, description: d, unit: u, min: low, max: 1, "
                      "higher_is_better: true, decimals: 2, raw: true}\n",
     r"metrics\.casi\.min: expected a number or null, got 'low'"),
    (Methodology, "version: x\nboards: {CASI: casi}\n", r"rtp: expected a mapping"),
    (Methodology, "version: x\nboards: {CASI: casi}\nrtp: {security_weight: high, performance_weight: 0.4}\n",
     r"rtp\.security_weight: expected a number, got 'high'"),
    (Methodology, "version: x\nboards: {CASI: casi}\nrtp: {security_weight: 0.6}\n",
     r"rtp\.performance_weight: expected a number, got None"),
    (Methodology, "version: x\nboards: {CASI: [casi]}\nrtp: {security_weight: 0.6, performance_weight: 0.4}\n",
     r"boards\.CASI: \['casi'\] is not in the metric catalogue"),
])
def test_other_faults_are_located(tmp_path, kind, text, message):
    with pytest.raises(ReferenceDataError, match=r"file\.yaml: " + message):
        load(write(tmp_path, text), kind)


def test_shipped_files_load():
    assert len(registry().models) == 25
    assert metric_catalogue().raw_metrics == ("casi", "ars", "performance", "input_usd_per_mtok", "output_usd_per_mtok")
    assert methodology().boards == {"CASI": "casi", "ARS": "ars"}
    assert (methodology().security_weight, methodology().performance_weight) == (0.6, 0.4)
