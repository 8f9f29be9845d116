"""The Grafana dashboard only queries metrics the worker declares: ours (agents.metrics) and Faust's
own (`tagstream_faust_*`), so a renamed metric cannot silently leave a panel empty."""

from __future__ import annotations

import json
import re
from pathlib import Path

from faust.sensors.prometheus import FaustMetrics
from prometheus_client import CollectorRegistry

from agents.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "config/grafana/dashboards/tagstream.json"
METRIC = re.compile(r"\btagstream_[a-zA-Z0-9_]+")
SUFFIXES = ("_bucket", "_sum", "_count", "_total")


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def all_panels(panels: list[dict]) -> list[dict]:
    """Every panel, including those nested in collapsed rows."""
    out = []
    for panel in panels:
        out.append(panel)
        out += all_panels(panel.get("panels", []))
    return out


def exprs() -> list[str]:
    return [t["expr"] for p in all_panels(dashboard()["panels"]) for t in p.get("targets", []) if "expr" in t]


def base_name(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def dashboard_metrics() -> set[str]:
    """Base metric family names queried anywhere in the dashboard."""
    return {base_name(name) for expr in exprs() for name in METRIC.findall(expr)}


def families(registry: CollectorRegistry) -> set[str]:
    return {family.name for family in registry.collect()}


def declared_metrics() -> set[str]:
    faust_registry = CollectorRegistry()
    FaustMetrics.create(faust_registry, "tagstream_faust")
    return families(WorkerMetrics().registry) | families(faust_registry)


def test_dashboard_is_valid_json_with_the_expected_identity():
    board = dashboard()
    assert board["uid"] == "tagstream"
    assert board["title"] == "tagstream"
    assert board["schemaVersion"] == 39
    assert board["refresh"] == "10s"
    assert board["time"] == {"from": "now-1h", "to": "now"}


def test_every_queried_metric_is_declared():
    used = dashboard_metrics()
    assert used, "the dashboard queries no tagstream_ metric"
    missing = used - declared_metrics()
    assert not missing, f"dashboard queries undeclared metrics: {sorted(missing)}"


def test_dashboard_covers_every_worker_metric():
    ours = families(WorkerMetrics().registry)
    assert ours <= dashboard_metrics(), f"not on the dashboard: {sorted(ours - dashboard_metrics())}"
    assert any(name.startswith("tagstream_faust_") for name in dashboard_metrics())


def test_panel_ids_are_unique():
    ids = [p["id"] for p in all_panels(dashboard()["panels"])]
    assert len(ids) == len(set(ids)), ids


def test_every_panel_queries_prometheus_and_is_documented():
    for panel in all_panels(dashboard()["panels"]):
        assert panel.get("title"), panel
        assert panel.get("description"), f"panel {panel['title']!r} has no description"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert target["expr"].strip(), panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), f"panel {panel['title']!r} has no unit"


def test_metric_extraction_strips_exposition_suffixes():
    assert base_name("tagstream_events_consumed_total") == "tagstream_events_consumed"
    assert base_name("tagstream_processing_latency_seconds_bucket") == "tagstream_processing_latency_seconds"
    assert base_name("tagstream_faust_rebalance_done_latency_count") == "tagstream_faust_rebalance_done_latency"
    assert "tagstream_events_consumed" in families(WorkerMetrics().registry)


def test_the_data_source_and_the_workers_are_chosen_by_template_variables():
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    instance = variables["instance"]
    assert instance["type"] == "query" and instance["multi"] and instance["includeAll"]
    assert METRIC.findall(instance["definition"]) == ["tagstream_events_consumed_total"]


def test_every_query_is_filtered_to_the_chosen_workers():
    selector = re.compile(r"\btagstream_[a-zA-Z0-9_]+(\{[^}]*\})?")
    for expr in exprs():
        for match in selector.finditer(expr):
            assert match.group(1) and 'instance=~"$instance"' in match.group(1), f"{match.group(0)!r} in {expr!r}"
