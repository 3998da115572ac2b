"""`casi-pipeline synth`: seeded, realistic raw red-team results of any size, written into a release drop.

Realistic means: each model has a latent robustness and each attack a latent potency; success probability is
logistic in both, severer attacks are rarer, and elaborate (complex) attacks succeed more often than plain ones.
Rows are written one model at a time as Parquet row groups, so memory stays flat whatever the total size.
The same arguments and seed give byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from casi_pipeline import months
from casi_pipeline.redteam.raw import AGENTIC, ATTACKS
from casi_pipeline.reference import registry
from casi_pipeline.storage.files import atomic_target
from casi_pipeline.storage.parquet_io import write_atomically

FAMILIES = (
    "jailbreak",
    "prompt_injection",
    "role_play",
    "encoding",
    "multilingual",
    "crescendo",
    "data_exfiltration",
    "system_prompt_leak",
)
INTENTS = ("exfiltrate_secrets", "privilege_escalation", "fraudulent_transaction", "sabotage", "reconnaissance")
SYNTH_PROVIDERS = ("Acme", "Globex", "Initech", "Umbrella", "Hooli")
SEVERITY_SHARES = (0.30, 0.27, 0.22, 0.14, 0.07)  # severe attacks are rarer
MAX_ROWS_PER_FILE = 10_000_000


@dataclass(frozen=True)
class SynthResult:
    attack_rows: int
    campaign_rows: int
    files: list[Path]


def model_labels(count: int) -> list[tuple[str, str]]:
    """The registry's models first (so published boards can be reconciled), then synthetic ones."""
    labels = [(model.provider, model.model) for model in registry().models][:count]
    labels += [(SYNTH_PROVIDERS[i % len(SYNTH_PROVIDERS)], f"Synth-{i + 1:03d}") for i in range(count - len(labels))]
    return labels


def _dictionary(indices: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices, type=pa.int32()), pa.array(values, type=pa.string()))


def _constant(value: str, length: int) -> pa.DictionaryArray:
    return _dictionary(np.zeros(length, dtype=np.int32), [value])


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _clear(folder: Path) -> None:
    """Regenerating a drop replaces its synthetic files, so stale parts never mix with new ones."""
    for old in folder.glob("*.parquet"):
        old.unlink()


@dataclass(frozen=True)
class AttackCatalogue:
    ids: list[str]
    family: np.ndarray
    severity: np.ndarray
    complexity: np.ndarray
    potency: np.ndarray  # latent: higher succeeds more often

    @classmethod
    def draw(cls, attacks: int, rng: np.random.Generator) -> AttackCatalogue:
        family = rng.integers(0, len(FAMILIES), attacks)
        severity = rng.choice(np.arange(1, 6), size=attacks, p=SEVERITY_SHARES).astype(np.int8)
        complexity = rng.integers(1, 6, attacks).astype(np.int8)
        # elaborate attacks get through more often; families differ in strength
        potency = rng.normal(0, 1, attacks) + rng.normal(0, 0.5, len(FAMILIES))[family] + 0.35 * (complexity - 3)
        return cls([f"atk-{i:06d}" for i in range(attacks)], family, severity, complexity, potency)


ATTACK_SCHEMA = pa.schema(
    [
        (
            name,
            pa.dictionary(pa.int32(), pa.string())
            if kind == "text"
            else pa.int8()
            if name in ("severity", "complexity")
            else pa.int32(),
        )
        for name, kind in ATTACKS.columns.items()
    ]
)


def _model_batch(
    label: tuple[str, str], robustness: float, catalogue: AttackCatalogue, runs: int, rng: np.random.Generator
) -> pa.RecordBatch:
    """One model's rows: every attack, `runs` times, each run a few trials."""
    unit = np.tile(np.arange(len(catalogue.ids)), runs)
    trials = rng.integers(1, 6, unit.size).astype(np.int32)
    successes = rng.binomial(trials, _expit(catalogue.potency[unit] - robustness)).astype(np.int32)
    return pa.record_batch(
        [
            _constant(label[0], unit.size),
            _constant(label[1], unit.size),
            _dictionary(unit, catalogue.ids),
            _dictionary(catalogue.family[unit], list(FAMILIES)),
            pa.array(catalogue.severity[unit]),
            pa.array(catalogue.complexity[unit]),
            pa.array(trials),
            pa.array(successes),
        ],
        schema=ATTACK_SCHEMA,
    )


def _write_attacks(folder: Path, labels, attacks: int, runs: int, rng: np.random.Generator) -> tuple[int, list[Path]]:
    catalogue = AttackCatalogue.draw(attacks, rng)
    robustness = rng.normal(3.0, 0.8, len(labels))
    models_per_file = max(1, MAX_ROWS_PER_FILE // (attacks * runs))
    files: list[Path] = []
    rows = 0
    for first in range(0, len(labels), models_per_file):
        files.append(folder / f"part-{len(files):04d}.parquet")
        with atomic_target(files[-1]) as temporary, pq.ParquetWriter(temporary, ATTACK_SCHEMA) as writer:
            for index in range(first, min(first + models_per_file, len(labels))):
                batch = _model_batch(labels[index], robustness[index], catalogue, runs, rng)
                writer.write_batch(batch, row_group_size=batch.num_rows)  # one row group per model
                rows += batch.num_rows
    return rows, files


def _write_campaigns(folder: Path, labels, campaigns: int, rng: np.random.Generator) -> tuple[int, Path]:
    models, count = len(labels), len(labels) * campaigns
    resilience = rng.normal(0.5, 0.9, models)
    difficulty = rng.normal(0, 0.8, campaigns)
    model = np.repeat(np.arange(models), campaigns)
    campaign = np.tile(np.arange(campaigns), models)
    breached = rng.random(count) < _expit(difficulty[campaign] - resilience[model])
    lifted = np.clip(np.rint(1 + 4 * _expit(resilience[model] + rng.normal(0, 1, count))), 1, 5)
    max_turns = rng.integers(5, 31, count)
    attempts = rng.integers(1, 21, count)
    leak_rate = _expit(-1.5 - resilience[model])
    table = pa.table(
        {
            "provider": [labels[m][0] for m in model],
            "model": [labels[m][1] for m in model],
            "campaign_id": [f"cmp-{c:05d}" for c in campaign],
            "intent": [INTENTS[c % len(INTENTS)] for c in campaign],
            "breached": breached,
            "sophistication_at_breach": pa.array(np.where(breached, lifted, 0).astype(np.int64), mask=~breached),
            "turns_survived": np.where(breached, (rng.random(count) * max_turns).astype(np.int64), max_turns),
            "max_turns": max_turns,
            "leaked_signals": rng.binomial(attempts, leak_rate),
            "attempts": attempts,
        }
    )
    path = folder / "part-0000.parquet"
    write_atomically(table.select(list(AGENTIC.columns)), path)
    return count, path


def write_drop(
    raw_root: Path, month: str, *, models: int, attacks: int, runs: int = 1, campaigns: int = 200, seed: int = 1
) -> SynthResult:
    """Write data_raw/<month>/attacks/*.parquet (models x attacks x runs rows) and agentic/part-0000.parquet."""
    months.parse(month)
    rng = np.random.default_rng(seed)
    labels = model_labels(models)
    attack_folder, agentic_folder = raw_root / month / ATTACKS.name, raw_root / month / AGENTIC.name
    for folder in (attack_folder, agentic_folder):
        folder.mkdir(parents=True, exist_ok=True)
        _clear(folder)
    attack_rows, files = _write_attacks(attack_folder, labels, attacks, runs, rng)
    campaign_rows, campaign_file = _write_campaigns(agentic_folder, labels, campaigns, rng)
    return SynthResult(attack_rows, campaign_rows, [*files, campaign_file])
