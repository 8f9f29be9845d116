"""The JSON Schemas in schemas/json are the contract producers read: an event they allow is one the
decoders accept, and the other way round, on a corpus of valid events and their mutations (a field
dropped, a wrong type, an out-of-range value, every non-RFC 3339 `ts` form). Two checks a JSON
Schema cannot express are pinned as what they are: calendar dates (`2025-02-30`) and a
whole-number float as epoch milliseconds (`1740830400000.0` is an "integer" to JSON Schema)."""

from __future__ import annotations

import copy

import jsonschema
import orjson
import pytest

from config.settings import ROOT
from schemas.events import EVENT_TYPES, Event, decode_event
from stream import _native

SCHEMAS = {kind: orjson.loads((ROOT / "schemas" / "json" / f"{kind}.schema.json").read_bytes()) for kind in EVENT_TYPES}
VALID = {
    "order": {"event_id": "o-1", "type": "order", "customer_id": "c1", "ts": "2025-03-01T12:00:00Z", "amount": 59.9,
              "currency": "EUR", "items": [{"sku": "A1", "category": "shoes", "qty": 1, "price": 59.9}],
              "channel": "app", "coupon": "SPRING"},
    "email_open": {"event_id": "e-1", "type": "email_open", "customer_id": "c1", "ts": 1740830400000, "campaign_id": "spring"},
    "click": {"event_id": "k-1", "type": "click", "customer_id": "c1", "ts": "2025-03-01T12:00:00+01:00", "url": "https://x"},
    "visit": {"event_id": "v-1", "type": "visit", "customer_id": "c1", "ts": "2025-03-01T12:00:00.5Z", "page": "/shoes"},
    "profile": {"event_id": "p-1", "type": "profile", "customer_id": "c1", "ts": "2025-03-01T12:00:00Z",
                "traits": {"region": "home", "email_consent": True, "company_size": None}},
    "custom": {"event_id": "x-1", "type": "custom", "customer_id": "c1", "ts": "2025-03-01T12:00:00Z",
               "name": "support_ticket", "properties": {"topic": "refund"}},
}
DROPPED = ["event_id", "customer_id", "ts", "amount", "traits", "name", "items", "currency", "channel", "coupon"]
REPLACED = {
    "event_id": ["", "x" * 129, "a\x01b", 7, None],
    "customer_id": ["", "x" * 129, "a\nb", 7],
    "ts": ["2025-03-01T12:00:00", "20250301T120000Z", "2025-W09-6T12:00:00Z", "2025-03-01 12:00:00Z",
           "2025-03-01T24:00:00Z", "2025-03-01t12:00:00z", "2025-03-01T12:00:00+05:60", "2025-03-01T12:00:00+0100",
           1740830400, -5, 253402300800000, True, None],
    "amount": [-1, 1e9 + 1, "59.9", True, 0, None],
    "currency": ["EURO", 5, None],
    "items": ["x", [1], [{"category": 7}], [{"category": "x" * 65}], [{"qty": 0}], None],
    "channel": ["x" * 65, 5, "", None],
    "coupon": [5, "", None],
    "traits": [[], "x", {"a": [1]}, None],
    "name": ["", "x" * 65, "a\tb", 5, None],
    "type": ["refund", 5],
}
# What the schemas cannot say; the decoders refuse these, the schemas let them through.
BEYOND_A_SCHEMA = {("ts", "2025-02-30T12:00:00Z"), ("ts", 1740830400000.0)}


def corpus():
    for kind, valid in VALID.items():
        yield kind, "valid", valid
        for field in DROPPED:
            if field in valid:
                yield kind, f"without {field}", {k: v for k, v in valid.items() if k != field}
        for field, values in REPLACED.items():
            if field in valid or field == "type":
                for value in values:
                    doc = copy.deepcopy(valid)
                    doc[field] = value
                    yield kind, f"{field}={value!r}"[:60], doc


def schema_allows(kind: str, doc: dict) -> bool:
    try:
        jsonschema.validate(doc, SCHEMAS[kind])
    except jsonschema.ValidationError:
        return False
    return True


@pytest.mark.parametrize("kind, case, doc", list(corpus()), ids=lambda value: value if isinstance(value, str) else "")
def test_the_schema_allows_what_both_decoders_accept(kind, case, doc):
    raw = orjson.dumps(doc)
    python = isinstance(decode_event(raw), Event)
    native = len(_native.decode_batch([raw])[0]) != 2
    assert python == native, f"{kind} {case}: the decoders disagree"
    assert schema_allows(kind, doc) == python, f"{kind} {case}: schema {'allows' if not python else 'refuses'} it"


@pytest.mark.parametrize("field, value", sorted(BEYOND_A_SCHEMA, key=repr))
def test_what_a_schema_cannot_check_is_refused_by_the_decoders(field, value):
    doc = {**VALID["click"], field: value}
    assert schema_allows("click", doc)
    assert not isinstance(decode_event(orjson.dumps(doc)), Event)
    assert len(_native.decode_batch([orjson.dumps(doc)])[0]) == 2
