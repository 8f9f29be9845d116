"""Tag changes as CloudEvents: deterministic ids and bytes, envelope shape, JSON Schema."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from stream.changes import TagChange
from tests.unit.tagspec import click, day, email_open, order, run, visit

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "json" / "tag_change.schema.json"


def history() -> list[dict]:
    return [
        email_open("c1", day(0, 8), id="e1"),
        order("c1", day(0, 10), 120.0, id="o1", channel="web", categories=("shoes",), coupon="X"),
        click("c2", day(3, 22), id="k1"),
        order("c2", day(4, 23, 30), 1500.0, id="o2", channel="app"),
        visit("c1", day(50, 12), id="v1"),
        order("c1", day(200, 9), 80.0, id="o3"),
    ]


def test_the_same_log_gives_byte_identical_changes_and_ids_across_runs():
    first, second = run(history(), as_of=day(400)), run(history(), as_of=day(400))
    assert len(first.changes) > 30
    assert [c.to_json() for c in first.changes] == [c.to_json() for c in second.changes]
    assert [c.id for c in first.changes] == [c.id for c in second.changes]


def test_change_ids_are_unique_32_hex_digits():
    ids = [c.id for c in run(history(), as_of=day(400)).changes]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


BASE = TagChange("c1", "lifecycle", "new", "active", day(30, 10), "default", None, {"orders_total": 1})


@pytest.mark.parametrize(
    "field, value",
    [
        ("customer_id", "c2"),
        ("family", "value_tier"),
        ("old", None),
        ("new", "dormant"),
        ("at", day(30, 10) + 1),
        ("cause_event_id", "o2"),
    ],
)
def test_the_id_is_a_function_of_what_the_change_is(field, value):
    assert replace(BASE, **{field: value}).id != BASE.id


@pytest.mark.parametrize("field, value", [("rule", "another rule"), ("metrics", {"orders_total": 9})])
def test_the_id_does_not_depend_on_the_explanation(field, value):
    assert replace(BASE, **{field: value}).id == BASE.id


def test_values_of_different_types_have_different_ids():
    assert replace(BASE, old=None, new=True).id != replace(BASE, old=None, new=1).id


def test_cloudevent_envelope_of_a_first_assignment():
    result = run([order("c42", day(0, 10), 59.9, id="o-1")], as_of=day(0, 10))
    change = next(c for c in result.changes if c.family == "value_tier")
    assert change.to_cloudevent() == {
        "specversion": "1.0",
        "id": change.id,
        "source": "urn:tagstream:engine",
        "type": "dev.tagstream.tag.changed.v1",
        "subject": "customer/c42",
        "time": "2024-01-01T10:00:00.000Z",
        "datacontenttype": "application/json",
        "data": {
            "customer_id": "c42",
            "family": "value_tier",
            "from": None,
            "to": "low",
            "at": "2024-01-01T10:00:00.000Z",
            "rule": "default",
            "cause_event_id": "o-1",
            "metrics": {"revenue_365d": 59.9},
        },
    }


def test_every_cloudevent_has_time_equal_to_data_at_and_from_null_only_first():
    seen: set[tuple[str, str]] = set()
    for change in run(history(), as_of=day(400)).changes:
        event = change.to_cloudevent()
        assert event["time"] == event["data"]["at"]
        assert event["subject"] == f"customer/{change.customer_id}"
        first = (change.customer_id, change.family) not in seen
        assert (event["data"]["from"] is None) == first
        seen.add((change.customer_id, change.family))


def test_deadline_changes_have_a_null_cause():
    change = next(c for c in run(history(), as_of=day(400)).changes if c.cause_event_id is None)
    assert change.to_cloudevent()["data"]["cause_event_id"] is None


def test_to_json_is_compact_key_sorted_cloudevent():
    for change in run(history(), as_of=day(400)).changes:
        raw = change.to_json()
        document = json.loads(raw)
        assert document == change.to_cloudevent()
        assert raw == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert raw == orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS)


def test_produced_events_validate_against_the_tag_change_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    changes = run(history(), as_of=day(400)).changes
    assert {type(c.new) for c in changes} >= {str, bool}
    for change in changes:
        validator.validate(json.loads(change.to_json()))


def test_the_schema_rejects_a_malformed_change():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    event = json.loads(BASE.to_json())
    event["subject"] = "c1"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, schema)
