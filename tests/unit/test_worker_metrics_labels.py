"""The tag change counter's labels come from closed sets: a value the rule pack declares is its
own label, a value taken from event data (a `top` family's channel or category) is `(free text)`,
so a producer sending a thousand channels makes one series, not a thousand."""

from __future__ import annotations

from agents.driver import Handled
from agents.metrics import FREE_TEXT, WorkerMetrics, declared_tag_values
from tests.unit.tagspec import default_rules


def series(metrics: WorkerMetrics) -> dict[tuple[str, str, str], float]:
    return {(s.labels["family"], s.labels["from_value"], s.labels["to_value"]): s.value
            for metric in metrics.registry.collect() if metric.name == "tagstream_tag_changes"
            for s in metric.samples if s.name.endswith("_total")}


def test_declared_values_keep_their_label_and_event_data_collapses_to_one():
    metrics = WorkerMetrics(tag_values=declared_tag_values(default_rules()))
    transitions = [("value_tier", "low", "medium", 2), ("vip", "None", "False", 1), ("order_hour", "None", "evening", 1)]
    transitions += [("preferred_channel", f"channel-{i}", f"channel-{i + 1}", 1) for i in range(1000)]
    transitions += [("preferred_channel", "None", "unknown", 1), ("top_category", "unknown", "shoes", 3)]
    metrics.count(Handled(transitions=transitions))
    assert series(metrics) == {
        ("value_tier", "low", "medium"): 2, ("vip", "None", "False"): 1, ("order_hour", "None", "evening"): 1,
        ("preferred_channel", FREE_TEXT, FREE_TEXT): 1000, ("preferred_channel", "None", "unknown"): 1,
        ("top_category", "unknown", FREE_TEXT): 3,
    }


def test_every_value_the_default_pack_can_produce_is_declared():
    declared = declared_tag_values(default_rules())
    assert declared["lifecycle"] >= {"None", "new", "active", "dormant", "churned"}
    assert declared["vip"] == {"None", "True", "False"}
    assert declared["order_hour"] >= {"night_owl", "morning", "daytime", "evening"}
    assert declared["preferred_channel"] == {"None", "unknown"}, "the rest comes from events"
