"""Model identity, shared by the release and red-team chains: each label's canonical model from the model registry,
and WARN rows for the labels the registry does not know."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import pandas as pd

from casi_pipeline.reference import Registry, match_key, slug, split_label

NEAR_DUPLICATE_CUTOFF = 0.85
UNKNOWN_MODELS = "unknown_models"
NEAR_DUPLICATE_LABELS = "near_duplicate_labels"


@dataclass
class Findings:
    """Drift that is not wrong, per WARN check name: a list of JSON-able rows each."""

    rows: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, check: str, row: dict) -> None:
        self.rows.setdefault(check, []).append(row)


def identify_labels(labels: pd.Series, registry: Registry, findings: Findings) -> pd.DataFrame:
    """Canonical identity per distinct label; unknown labels become new models and are reported."""
    known_labels = {match_key(label): model.id for model in registry.models for label in (model.label, *model.aliases)}
    rows = []
    for label in sorted(set(labels)):
        model = registry.resolve(label)
        if model is not None:
            rows.append(
                {
                    "label": label,
                    "model_id": model.id,
                    "provider": model.provider,
                    "model": model.model,
                    "registered": True,
                }
            )
            continue
        provider, name = split_label(label)
        model_id = f"{slug(provider)}/{slug(name)}"
        rows.append({"label": label, "model_id": model_id, "provider": provider, "model": name, "registered": False})
        findings.add(UNKNOWN_MODELS, {"label": label, "new_model_id": model_id})
        close = difflib.get_close_matches(match_key(label), known_labels, n=1, cutoff=NEAR_DUPLICATE_CUTOFF)
        if close:
            findings.add(NEAR_DUPLICATE_LABELS, {"label": label, "close_to": known_labels[close[0]]})
    return pd.DataFrame(rows, columns=["label", "model_id", "provider", "model", "registered"])
