"""The Redis profile as the README documents it, written independently of the engine's builder
(native/src/engine/profile.rs): a snapshot record flattened into hash fields. The reference for
tests/unit/test_redis_profiles.py and tests/integration/test_redis_serving.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agents.serving.profiles import TAG, text


@dataclass(frozen=True)
class Profile:
    customer_id: str
    tags: dict[str, str]
    fields: dict[str, str]


def profile_from_record(record: Mapping[str, object], as_of_ms: int) -> Profile:
    """The reference of the engine's Redis profile (native/src/engine/profile.rs): a snapshot
    record flattened into hash fields, as the README documents it."""
    fields: dict[str, str] = {}
    for name, value in record.items():
        if name == "tags":
            continue
        if isinstance(value, Mapping):
            prefix = {"rfm": "rfm_", "traits": "trait_"}.get(name, "")
            for inner, inner_value in value.items():
                if inner_value is not None:
                    fields[prefix + inner] = text(inner_value)
        elif value is not None:
            fields[name] = text(value)
    tags = {family: text(value) for family, value in record["tags"].items()}  # type: ignore[union-attr]
    fields.update({TAG + family: value for family, value in tags.items()})
    fields["as_of_ms"] = str(as_of_ms)
    return Profile(str(record["customer_id"]), tags, fields)
