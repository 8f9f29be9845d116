"""The latency histogram takes a fetch's records in one call, and exports what prometheus_client's
own histogram would after one observation per record."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram

from agents.metrics import LATENCY_BUCKETS, ManyAtOnceHistogram


def samples(registry: CollectorRegistry) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for metric in registry.collect() for s in metric.samples if not s.name.endswith("_created")}


def test_counted_observations_export_as_one_observation_each():
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    many = ManyAtOnceHistogram("latency_seconds", "doc", LATENCY_BUCKETS, ours)
    one = Histogram("latency_seconds", "doc", buckets=LATENCY_BUCKETS, registry=theirs)
    for value, count in [(0.0005, 3), (0.003, 500), (0.1, 1), (0.7, 20), (42.0, 2)]:  # on a bound, between, beyond
        many.observe(value, count)
        for _ in range(count):
            one.observe(value)
    ours_samples, theirs_samples = samples(ours), samples(theirs)
    total = ("latency_seconds_sum", ())
    assert ours_samples.pop(total) == pytest.approx(theirs_samples.pop(total)), "the sum, added in another order"
    assert ours_samples == theirs_samples, "every bucket and the count"

