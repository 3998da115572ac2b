"""casi-pipeline: the data pipeline behind the CASI and ARS security leaderboards."""

__version__ = "0.1.0"
