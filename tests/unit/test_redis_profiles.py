"""The engine's Redis profiles are the documented flattening of each customer's snapshot record:
every field, tag and the as-of instant, byte-exact strings, for a year of generated customers."""

from __future__ import annotations

import orjson

from stream.native import Engine
from stream.rules.plan_export import plan_json
from stream.synthetic import generate_events
from tests.unit.profile_reference import profile_from_record
from tests.unit.tagspec import default_rules, run


def test_profiles_match_the_reference_flattening_of_the_records():
    rules = default_rules()
    states = run(generate_events(150, 365, 21), as_of="watermark").backtest.engine.export_states()
    engine = Engine(plan_json(rules), 8)
    profiles, unreadable = engine.profile_builder().build(states + [("broken", b"\x02garbage")])
    assert [customer_id for customer_id, _ in unreadable] == ["broken"]
    assert len(profiles) == len(states)
    for (customer_id, raw), (profiled, profile) in zip(states, profiles):
        record, as_of_ms = engine.stored_record(customer_id, raw)
        expected = profile_from_record(orjson.loads(record), as_of_ms)
        assert profiled == customer_id
        assert orjson.loads(profile) == {"as_of_ms": str(as_of_ms), "id": expected.customer_id,
                                         "tags": expected.tags, "fields": expected.fields}
