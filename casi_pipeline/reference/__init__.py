"""Reference data kept as versioned YAML in the package, one module per file: the model registry (models.py), the
metric catalogue (metrics.py), the scoring methodology (methodology.py) and the benchmark catalogue (benchmarks.py).

Each file is read once, on first use, into frozen records (loading.py); a faulty file raises ReferenceDataError
naming the file and the entry that is wrong.
"""

from casi_pipeline.reference.benchmarks import Benchmark, BenchmarkCatalogue, benchmark_catalogue
from casi_pipeline.reference.labels import match_key, slug, split_label
from casi_pipeline.reference.loading import load
from casi_pipeline.reference.methodology import Methodology, methodology
from casi_pipeline.reference.metrics import Metric, MetricCatalogue, metric_catalogue
from casi_pipeline.reference.models import MODEL_ID, Model, Registry, registry

__all__ = [
    "MODEL_ID",
    "Benchmark",
    "BenchmarkCatalogue",
    "Methodology",
    "Metric",
    "MetricCatalogue",
    "Model",
    "Registry",
    "benchmark_catalogue",
    "load",
    "match_key",
    "methodology",
    "metric_catalogue",
    "registry",
    "slug",
    "split_label",
]
