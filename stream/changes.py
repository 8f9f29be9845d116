"""Tag changes and the one place that turns them into CloudEvents.

The id is a hash of what the change *is* (customer, family, instant, from, to, cause), never of when
or where it was computed, so a replay, a restarted worker and `backtest` all give the same id and a
consumer can de-duplicate on it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from stream.rules.families import TagValue
from stream.timeutil import format_ts, parse_instant

if TYPE_CHECKING:
    from stream._native import ChangeBatch

SPEC_VERSION = "1.0"
CHANGE_TYPE = "dev.tagstream.tag.changed.v1"
SOURCE = "urn:tagstream:engine"
CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
ERASED_TYPE = "dev.tagstream.customer.erased.v1"


def erasure_event(customer_id: str, topic: str, partition: int, offset: int) -> bytes:
    """The CloudEvent telling downstream systems that a customer was erased (on request) and
    they should delete what they hold too. Its id is a hash of the request record, so a re-run
    after a crash publishes the same bytes."""
    request = {"topic": topic, "partition": partition, "offset": offset}
    identity = orjson.dumps([customer_id, ERASED_TYPE, topic, partition, offset])
    return orjson.dumps({
        "specversion": SPEC_VERSION,
        "id": hashlib.blake2b(identity, digest_size=16).hexdigest(),
        "source": SOURCE,
        "type": ERASED_TYPE,
        "subject": f"customer/{customer_id}",
        "datacontenttype": "application/json",
        "data": {"customer_id": customer_id, "request": request},
    }, option=orjson.OPT_SORT_KEYS)


# Not frozen: a frozen dataclass's __init__ costs ~5x a plain one, and the engine makes two or three
# of these per event. Nothing changes a TagChange once made.
@dataclass(slots=True)
class TagChange:
    customer_id: str
    family: str
    old: TagValue | None
    new: TagValue
    at: int  # event time (epoch ms) at which the new value became true
    rule: str
    cause_event_id: str | None
    metrics: dict[str, object]

    @property
    def id(self) -> str:
        identity = orjson.dumps([self.customer_id, self.family, self.at, self.old, self.new, self.cause_event_id])
        return hashlib.blake2b(identity, digest_size=16).hexdigest()

    def to_cloudevent(self) -> dict[str, object]:
        at = format_ts(self.at)
        return {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": SOURCE,
            "type": CHANGE_TYPE,
            "subject": f"customer/{self.customer_id}",
            "time": at,
            "datacontenttype": "application/json",
            "data": {
                "customer_id": self.customer_id,
                "family": self.family,
                "from": self.old,
                "to": self.new,
                "at": at,
                "rule": self.rule,
                "cause_event_id": self.cause_event_id,
                "metrics": self.metrics,
            },
        }

    @classmethod
    def from_batch(cls, batch: "ChangeBatch") -> list[TagChange]:
        """The changes of one native engine call as objects, read back from their CloudEvent
        JSON (tests and tools that inspect them; writers take `batch.json_lines()` as it is)."""
        changes = []
        for line in batch.json_lines().splitlines():
            data = orjson.loads(line)["data"]
            changes.append(cls(data["customer_id"], data["family"], data["from"], data["to"], parse_instant(data["at"]),
                               data["rule"], data["cause_event_id"], data["metrics"]))
        return changes

    def to_json(self) -> bytes:
        """Compact, key-sorted JSON: the same change always serializes to the same bytes."""
        return orjson.dumps(self.to_cloudevent(), option=orjson.OPT_SORT_KEYS)
