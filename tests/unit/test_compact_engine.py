"""The worker's engine keeps each customer as its stored bytes between batches (`compact`) and
decodes one when an event or a deadline needs it. Given the same records, it must decide exactly
as an engine that keeps every customer decoded: the same change bytes, the same stored states."""

from __future__ import annotations

import orjson
import pytest

from stream.native import Engine
from stream.rules.plan_export import plan_json
from stream.synthetic import generate_events
from stream.timeutil import parse_instant
from tests.unit.tagspec import default_rules

BLOCK = 97  # records per batch: customers are written out (and compacted) between batches


def run(compact: bool, docs: list[dict], immediate: bool) -> tuple[bytes, list[tuple[str, bytes]], int]:
    engine = Engine(plan_json(default_rules()), 4, immediate=immediate, compact=compact)
    written, changes = 0, []
    lines = [orjson.dumps(doc) for doc in docs]
    for start in range(0, len(lines), BLOCK):
        batch, rejected = engine.ingest_lines(lines[start:start + BLOCK])
        assert rejected == []
        changes.append(batch.json_lines())
        states, _ = engine.take_writes()
        written += len(states)
    changes.append(engine.refresh().json_lines())
    changes.append(engine.finish(parse_instant(docs[-1]["ts"]) + 200 * 86_400_000).json_lines())  # deadlines of stored customers
    return b"".join(changes), engine.export_states(), written


@pytest.mark.parametrize("immediate", [False, True], ids=["buffered", "on arrival"])
def test_customers_kept_as_stored_bytes_between_batches_decide_as_decoded_ones(immediate):
    docs = generate_events(150, 200, 7)
    compact_changes, compact_states, written = run(True, docs, immediate)
    decoded_changes, decoded_states, _ = run(False, docs, immediate)
    assert written > 150, "customers were written out (and compacted) many times"
    assert compact_changes.count(b"\n") > 1000
    assert compact_changes == decoded_changes
    assert compact_states == decoded_states
