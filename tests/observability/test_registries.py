"""Metrics made once per registry: a second maker over the same registry gets the first's series."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from darkroom.observability.registries import metrics_for


class _Jobs:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.done = Counter("darkroom_test_jobs", "jobs", registry=registry)


def test_one_set_of_series_per_registry() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    jobs = metrics_for(first, _Jobs)
    assert metrics_for(first, _Jobs) is jobs  # building it again would be a Duplicated timeseries
    jobs.done.inc()
    other = metrics_for(second, _Jobs)
    assert other is not jobs
    assert first.get_sample_value("darkroom_test_jobs_total") == 1.0
    assert second.get_sample_value("darkroom_test_jobs_total") == 0.0
