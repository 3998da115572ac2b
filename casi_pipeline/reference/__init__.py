"""Reference data kept as versioned YAML in the package: model registry, metric catalogue, scoring methodology,
benchmark catalogue.

Each loader validates its file and raises ReferenceDataError naming the file and the entry that is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from casi_pipeline.errors import ReferenceDataError

HERE = Path(__file__).parent
MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]*/[a-z0-9][a-z0-9.\-]*$")
_SEPARATORS = re.compile(r"[\s\-_]+")


def match_key(label: str) -> str:
    """Case- and separator-insensitive form of a label: `GPT-5 Nano` = `GPT 5 Nano` = `gpt-5-nano`."""
    return _SEPARATORS.sub("", label).lower()


def split_label(label: str) -> tuple[str, str]:
    """`<Provider> <Model>`, split on the first space (the publisher's convention)."""
    provider, _, model = label.strip().partition(" ")
    return provider, model.strip()


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "unknown"


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ReferenceDataError(str(path), "yaml", str(exc).replace("\n", " ")) from exc
    if not isinstance(data, dict):
        raise ReferenceDataError(str(path), "top level", "expected a mapping")
    if "version" not in data:
        raise ReferenceDataError(str(path), "version", "missing")
    return data


def require_field(path: Path, where: str, entry: dict, name: str, kind: type | tuple[type, ...]) -> Any:
    value = entry.get(name)
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        raise ReferenceDataError(str(path), f"{where}.{name}", f"expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


# --- model registry ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    id: str
    provider: str
    model: str
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.provider} {self.model}"


@dataclass(frozen=True)
class Registry:
    version: int
    models: tuple[Model, ...]
    _by_key: dict[str, Model] = field(repr=False, compare=False, default_factory=dict)

    def resolve(self, label: str) -> Model | None:
        return self._by_key.get(match_key(label))

    def known_keys(self) -> dict[str, Model]:
        return dict(self._by_key)


def parse_registry(path: Path) -> Registry:
    data = read_yaml(path)
    entries = data.get("models")
    if not isinstance(entries, list):
        raise ReferenceDataError(str(path), "models", "expected a list")
    models, by_key, where_id = [], {}, {}
    for index, entry in enumerate(entries):
        where = f"models[{index}]"
        if not isinstance(entry, dict):
            raise ReferenceDataError(str(path), where, "expected a mapping")
        model_id = require_field(path, where, entry, "id", str)
        if not MODEL_ID.match(model_id):
            raise ReferenceDataError(str(path), f"{where}.id", f"{model_id!r} is not `provider/model` in lower case")
        if model_id in where_id:
            raise ReferenceDataError(str(path), f"{where}.id", f"{model_id!r} already defined at {where_id[model_id]}")
        where_id[model_id] = where
        aliases = entry.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
            raise ReferenceDataError(str(path), f"{where}.aliases", "expected a list of labels")
        model = Model(model_id, require_field(path, where, entry, "provider", str), require_field(path, where, entry, "model", str),
                      tuple(aliases))
        for position, label in enumerate((model.label, *model.aliases)):
            owner = by_key.get(match_key(label))
            if owner is not None and owner.id != model.id:
                place = f"{where}.aliases[{position - 1}]" if position else where
                raise ReferenceDataError(str(path), place, f"label {label!r} already matches {owner.id}")
            by_key[match_key(label)] = model
        models.append(model)
    return Registry(int(data["version"]), tuple(models), by_key)


# --- metric catalogue -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    name: str
    display: str
    description: str
    unit: str
    min: float | None
    max: float | None
    higher_is_better: bool
    decimals: int
    raw: bool


@dataclass(frozen=True)
class Catalogue:
    version: int
    metrics: dict[str, Metric]

    @property
    def raw_metrics(self) -> tuple[str, ...]:
        return tuple(name for name, metric in self.metrics.items() if metric.raw)


def parse_catalogue(path: Path) -> Catalogue:
    data = read_yaml(path)
    entries = data.get("metrics")
    if not isinstance(entries, dict) or not entries:
        raise ReferenceDataError(str(path), "metrics", "expected a mapping of metric name to definition")
    metrics = {}
    for name, entry in entries.items():
        where = f"metrics.{name}"
        if not isinstance(entry, dict):
            raise ReferenceDataError(str(path), where, "expected a mapping")
        bounds = []
        for bound in ("min", "max"):
            value = entry.get(bound)
            if value is not None and not isinstance(value, (int, float)):
                raise ReferenceDataError(str(path), f"{where}.{bound}", f"expected a number or null, got {value!r}")
            bounds.append(value)
        if None not in bounds and bounds[0] > bounds[1]:
            raise ReferenceDataError(str(path), where, f"min {bounds[0]} is above max {bounds[1]}")
        metrics[name] = Metric(
            name=name,
            display=require_field(path, where, entry, "display", str),
            description=require_field(path, where, entry, "description", str),
            unit=require_field(path, where, entry, "unit", str),
            min=bounds[0],
            max=bounds[1],
            higher_is_better=require_field(path, where, entry, "higher_is_better", bool),
            decimals=require_field(path, where, entry, "decimals", int),
            raw=require_field(path, where, entry, "raw", bool),
        )
    return Catalogue(int(data["version"]), metrics)


# --- scoring methodology ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Methodology:
    version: str
    boards: dict[str, str]  # board name -> metric that is its security score
    security_weight: float
    performance_weight: float


def parse_methodology(path: Path, catalogue: Catalogue) -> Methodology:
    data = read_yaml(path)
    boards = data.get("boards")
    if not isinstance(boards, dict) or not boards:
        raise ReferenceDataError(str(path), "boards", "expected a mapping of board name to security metric")
    for board, metric in boards.items():
        if metric not in catalogue.metrics:
            raise ReferenceDataError(str(path), f"boards.{board}", f"{metric!r} is not in the metric catalogue")
    rtp = data.get("rtp")
    if not isinstance(rtp, dict):
        raise ReferenceDataError(str(path), "rtp", "expected a mapping")
    weights = [require_field(path, "rtp", rtp, name, (int, float)) for name in ("security_weight", "performance_weight")]
    if abs(sum(weights) - 1) > 1e-9:
        raise ReferenceDataError(str(path), "rtp", f"weights must add up to 1, got {sum(weights)}")
    return Methodology(str(data["version"]), dict(boards), float(weights[0]), float(weights[1]))


@lru_cache(maxsize=1)
def registry() -> Registry:
    return parse_registry(HERE / "models.yaml")


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    return parse_catalogue(HERE / "metrics.yaml")


@lru_cache(maxsize=1)
def methodology() -> Methodology:
    return parse_methodology(HERE / "methodology.yaml", catalogue())


# --- benchmark catalogue ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    name: str
    category: str
    weight: float
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class BenchmarkCatalogue:
    """What the computed Average Performance is made of, and when it is allowed to exist (see benchmarks.yaml)."""

    version: str
    coverage_threshold: float
    reconciliation_tolerance: float
    benchmarks: tuple[Benchmark, ...]
    _by_key: dict[str, Benchmark] = field(repr=False, compare=False, default_factory=dict)

    def resolve(self, name: str) -> Benchmark | None:
        return self._by_key.get(match_key(name))

    @property
    def total_weight(self) -> float:
        return sum(benchmark.weight for benchmark in self.benchmarks)


def _number(path: Path, where: str, value: Any, *, above: float | None = None, at_least: float | None = None,
            at_most: float | None = None) -> float:
    """A YAML number (not a bool) inside the given bounds, or a located error saying which bounds."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if (not is_number or (above is not None and value <= above) or (at_least is not None and value < at_least)
            or (at_most is not None and value > at_most)):
        bounds = [f"above {above:g}" if above is not None else "", f">= {at_least:g}" if at_least is not None else "",
                  f"at most {at_most:g}" if at_most is not None else ""]
        raise ReferenceDataError(str(path), where, f"expected a number {' and '.join(b for b in bounds if b)}, "
                                 f"got {value!r}")
    return float(value)


def parse_benchmarks(path: Path) -> BenchmarkCatalogue:
    data = read_yaml(path)
    threshold = _number(path, "coverage_threshold", data.get("coverage_threshold"), above=0, at_most=1)
    tolerance = _number(path, "reconciliation_tolerance", data.get("reconciliation_tolerance"), at_least=0)
    categories = data.get("categories")
    if not isinstance(categories, list) or not all(isinstance(c, str) and c.strip() for c in categories or [None]):
        raise ReferenceDataError(str(path), "categories", "expected a list of category names")
    entries = data.get("benchmarks")
    if not isinstance(entries, list) or not entries:
        raise ReferenceDataError(str(path), "benchmarks", "expected a list of benchmarks")
    benchmarks, by_key, where_key = [], {}, {}
    for index, entry in enumerate(entries):
        where = f"benchmarks[{index}]"
        if not isinstance(entry, dict):
            raise ReferenceDataError(str(path), where, "expected a mapping")
        category = require_field(path, where, entry, "category", str)
        if category not in categories:
            raise ReferenceDataError(str(path), f"{where}.category",
                                     f"{category!r} is not one of the categories ({', '.join(categories)})")
        weight = _number(path, f"{where}.weight", entry.get("weight"), above=0)
        aliases = entry.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
            raise ReferenceDataError(str(path), f"{where}.aliases", "expected a list of names")
        benchmark = Benchmark(require_field(path, where, entry, "name", str), category, weight, tuple(aliases))
        for position, name in enumerate((benchmark.name, *benchmark.aliases)):
            place = f"{where}.aliases[{position - 1}]" if position else f"{where}.name"
            if match_key(name) in where_key:
                raise ReferenceDataError(str(path), place, f"{name!r} already names {where_key[match_key(name)]}")
            where_key[match_key(name)] = where
            by_key[match_key(name)] = benchmark
        benchmarks.append(benchmark)
    return BenchmarkCatalogue(str(data["version"]), threshold, tolerance, tuple(benchmarks), by_key)


@lru_cache(maxsize=1)
def benchmark_catalogue() -> BenchmarkCatalogue:
    return parse_benchmarks(HERE / "benchmarks.yaml")
