"""Metric sources: New Relic (NerdGraph) and raw events in SQLite. See base.py."""
from rollout.adapters.metrics.base import MetricSource, metrics_url, open_source

__all__ = ["MetricSource", "metrics_url", "open_source"]
