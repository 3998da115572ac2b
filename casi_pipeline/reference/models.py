"""The model registry (models.yaml): one entry per canonical model, with every label the publisher used for it."""

from __future__ import annotations

import re
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, model_validator

from casi_pipeline.reference.labels import first_clash, match_key
from casi_pipeline.reference.loading import Aliases, Record, Text, VersionNumber, error_message, invalid, load, record

MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]*/[a-z0-9][a-z0-9.\-]*$")


def _provider_slash_model(model_id: str) -> str:
    if not MODEL_ID.match(model_id):
        raise invalid(f"{model_id!r} is not `provider/model` in lower case")
    return model_id


@record
class Model(Record):
    id: Annotated[Text, AfterValidator(_provider_slash_model)]
    """Canonical id, `provider/model` in lower case."""
    provider: Text
    model: Text
    """The model's display name, without the provider."""
    aliases: Annotated[Aliases, error_message("expected a list of labels", every_fault=True)] = ()
    """Other `<Provider> <Model>` labels that mean this model."""

    @property
    def label(self) -> str:
        return f"{self.provider} {self.model}"

    @property
    def labels(self) -> tuple[str, ...]:
        """Its own label, then its aliases."""
        return self.label, *self.aliases


@record
class Registry(Record):
    version: VersionNumber
    models: Annotated[tuple[Model, ...], error_message("expected a list")]

    @model_validator(mode="after")
    def _ids_and_labels_are_unique(self) -> Registry:
        defined_at: dict[str, int] = {}
        for index, model in enumerate(self.models):
            if (first := defined_at.setdefault(model.id, index)) != index:
                raise invalid(f"{model.id!r} already defined at models[{first}]", "models", index, "id")
        clash = first_clash([model.labels for model in self.models], repeats_within_entry=True)
        if clash:
            index, position, owner = clash
            label = self.models[index].labels[position]
            alias = ("aliases", position - 1) if position else ()
            raise invalid(f"label {label!r} already matches {self.models[owner].id}", "models", index, *alias)
        return self

    @cached_property
    def _by_key(self) -> dict[str, Model]:
        return {match_key(label): model for model in self.models for label in model.labels}

    def resolve(self, label: str) -> Model | None:
        return self._by_key.get(match_key(label))


@cache
def registry() -> Registry:
    return load(Path(__file__).with_name("models.yaml"), Registry)
