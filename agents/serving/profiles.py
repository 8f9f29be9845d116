"""The Redis shape of a customer: one hash of strings, plus audience-set membership.

`tagstream:v1:customer:{id}` holds `tag:<family>` fields and the snapshot metrics, flattened;
`tagstream:v1:audience:{family}:{value}` is the set of customers holding that value now. Values
are plain strings a marketing tool can read without JSON: booleans `true`/`false`, numbers as
JSON writes them, absent values (never ordered, no score) simply absent. The worker's profiles
are built by the engine (`Engine.redis_profiles`, native/src/engine/profile.rs) and written by
`redis_sink.py`; tests/integration/test_redis_serving.py holds an independent Python reference.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

PREFIX = "tagstream:v1:"
CUSTOMER = PREFIX + "customer:"
AUDIENCE = PREFIX + "audience:"
TAG = "tag:"


def text(value: object) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def customer_key(customer_id: str) -> str:
    return CUSTOMER + customer_id


def audience_key(family: str, value: object) -> str:
    return f"{AUDIENCE}{family}:{text(value)}"


def record_from_hash(fields: Mapping[str, str]) -> dict[str, object]:
    """The parts of a snapshot record a reader needs (report, lookup), back from a Redis hash."""
    return {
        "customer_id": fields.get("customer_id", ""),
        "as_of": fields.get("as_of"),
        "revenue_total": fields.get("revenue_total"),
        "orders_total": fields.get("orders_total"),
        "rfm": {k: fields.get(f"rfm_{k}") for k in ("r", "f", "m")},
        "tags": {name[len(TAG):]: value for name, value in fields.items() if name.startswith(TAG)},
    }
