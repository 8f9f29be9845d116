"""Sizes of every scenario. `small` keeps `make bench` under 15 minutes on a 2-core box; `full`
is the issue's sizes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    # engine: a generated log cut to `engine_events` lines
    engine_customers: int
    engine_days: int
    engine_events: int
    # e2e and scaleout: events pre-produced into the input topics
    e2e_events: int
    # seconds of measuring after which a consumer's rate is taken over what it did so far
    # (None: until it has consumed everything)
    worker_budget_s: float | None
    naive_budget_s: float | None
    scaleout_events: int
    # latency: offered load
    latency_rate: int
    latency_seconds: float
    latency_customers: int
    latency_drain_s: float  # after the load, wait at most this long for the worker to catch up
    # deadlines: customers tracked by one engine
    deadline_customers: int
    deadline_small: int
    # memory: customers with a year of history
    memory_customers: int
    # recovery: customers in the changelog
    recovery_customers: int


SCALES = {
    "small": Scale("small", engine_customers=20_000, engine_days=180, engine_events=200_000,
                   e2e_events=200_000, worker_budget_s=12, naive_budget_s=12, scaleout_events=400_000,
                   latency_rate=2000, latency_seconds=20, latency_customers=1_000, latency_drain_s=5,
                   deadline_customers=100_000, deadline_small=10_000,
                   memory_customers=2_000, recovery_customers=50_000),
    "full": Scale("full", engine_customers=100_000, engine_days=150, engine_events=1_000_000,
                  e2e_events=1_000_000, worker_budget_s=None, naive_budget_s=120, scaleout_events=1_000_000,
                  latency_rate=2000, latency_seconds=60, latency_customers=10_000, latency_drain_s=120,
                  deadline_customers=1_000_000, deadline_small=10_000,
                  memory_customers=100_000, recovery_customers=1_000_000),
}
