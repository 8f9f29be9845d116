"""The Redis shape of a customer: one hash of strings, plus audience-set membership.

`tagstream:v1:customer:{id}` holds `tag:<family>` fields and the snapshot metrics, flattened;
`tagstream:v1:audience:{family}:{value}` is the set of customers holding that value now. Values
are plain strings a marketing tool can read without JSON: booleans `true`/`false`, numbers as
JSON writes them, absent values (never ordered, no score) simply absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

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


@dataclass(frozen=True)
class Profile:
    """What one Redis write carries: `as_of_ms` orders writes (an older one never wins)."""

    customer_id: str
    as_of_ms: int
    tags: dict[str, str]
    fields: dict[str, str]


def profile_from_record(record: Mapping[str, object], as_of_ms: int) -> Profile:
    """Flatten a snapshot record (native/src/engine/snapshot.rs) into hash fields."""
    fields: dict[str, str] = {}
    for name, value in record.items():
        if name == "tags":
            continue
        if isinstance(value, Mapping):
            prefix = "rfm_" if name == "rfm" else ""
            for inner, inner_value in value.items():
                if inner_value is not None:
                    fields[prefix + inner] = text(inner_value)
        elif value is not None:
            fields[name] = text(value)
    tags = {family: text(value) for family, value in record["tags"].items()}  # type: ignore[union-attr]
    fields.update({TAG + family: value for family, value in tags.items()})
    fields["as_of_ms"] = str(as_of_ms)
    return Profile(str(record["customer_id"]), as_of_ms, tags, fields)


def record_from_hash(fields: Mapping[str, str]) -> dict[str, object]:
    """The parts of a snapshot record a reader needs (report, lookup), back from a Redis hash."""
    return {
        "customer_id": fields.get("customer_id", ""),
        "revenue_total": fields.get("revenue_total"),
        "orders_total": fields.get("orders_total"),
        "rfm": {k: fields.get(f"rfm_{k}") for k in ("r", "f", "m")},
        "tags": {name[len(TAG):]: value for name, value in fields.items() if name.startswith(TAG)},
    }


class StoredRecords(Protocol):
    """The part of `stream.native.Engine` that reads a stored state."""

    def stored_record(self, customer_id: str, raw: bytes) -> tuple[bytes, int]: ...


def profile_of_stored(engine: StoredRecords, customer_id: str, raw: bytes) -> Profile:
    """The profile of a customer's stored state bytes, as of its own clock."""
    record, as_of_ms = engine.stored_record(customer_id, raw)
    return profile_from_record(orjson.loads(record), as_of_ms)
