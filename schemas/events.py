"""The canonical input event and its one decoder.

Every source of events (Kafka records in the worker, JSONL lines in `backtest` and `replay`) goes
through `decode_event`, so a record is accepted or rejected for the same reason everywhere. Decoding
never raises: it returns either an `Event` or a `Rejection`, and the caller decides where rejections
go (the dead-letter topic, a counter, a line-numbered report).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import orjson

from stream.timeutil import format_ts

ORDER: Final = "order"
EMAIL_OPEN: Final = "email_open"
CLICK: Final = "click"
VISIT: Final = "visit"
PROFILE: Final = "profile"
CUSTOM: Final = "custom"
# One topic each. The first four are activity (recency, windows, events_total); a profile sets the
# customer's traits and a custom event (a name and properties, like an analytics "track" call)
# feeds only the pack's property metrics.
EVENT_TYPES: Final = (ORDER, EMAIL_OPEN, CLICK, VISIT, PROFILE, CUSTOM)
ACTIVITY_TYPES: Final = EVENT_TYPES[:4]

# The JSON Schemas' `ts` pattern (RFC 3339 §5.6, `t` and `z` allowed), the zone optional here so that
# a naive time gets its own message. Python's `fromisoformat` alone would also take ISO 8601 forms
# the schemas refuse (basic format, week dates, a space as separator, `+0100`); the compiled
# decoder takes exactly this, so both decoders and the schemas accept the same texts.
_RFC3339 = re.compile(r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?)"
                      r"(?P<zone>[Zz]|[+-][0-9]{2}:(?P<offset_minutes>[0-9]{2}))?")

# 64 KiB is far above any real event (~300 bytes) and keeps a hostile 1 MB payload out of state.
MAX_EVENT_BYTES: Final = 64 * 1024
MAX_ID_CHARS: Final = 128
# A channel or item category is kept in the customer's state and published as a tag value: bounded
# so that a producer's giant strings cannot bloat every state they reach.
MAX_LABEL_CHARS: Final = 64
MAX_AMOUNT: Final = 1e9
# History from any year since 1970 is welcome (retail exports from the 1990s are real), but a number
# below 10^11 is not taken as milliseconds: as milliseconds it would fall before 1973-03-03, as epoch
# seconds it is any instant up to the year 5138, and seconds sent where milliseconds belong is by
# far the commoner producer bug. Instants before 1973-03-03 are written as RFC 3339 text instead.
EARLIEST_MS: Final = 0  # 1970-01-01T00:00:00Z
SMALLEST_EPOCH_MS: Final = 100_000_000_000  # 1973-03-03T09:46:40Z
LATEST_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write


@dataclass(slots=True)  # not frozen, like TagChange: one per event, never changed after decoding
class Event:
    """One customer interaction, reduced to what tagging needs.

    Money is kept in integer cents so that window sums are exact and independent of the order in
    which events were added.
    """

    event_id: str
    type: str
    customer_id: str
    ts: int  # event time, epoch milliseconds UTC
    amount_cents: int = 0
    coupon: bool = False
    channel: str | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record could not become an `Event`; `reason` is a short, bounded code for metrics."""

    reason: str
    message: str


class _Invalid(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def decode_event(raw: bytes, key: bytes | None = None, latest_ms: int | None = None) -> Event | Rejection:
    """Decode one JSON event; `key`, when given, must equal the customer id (Kafka record key).

    `latest_ms` is the newest event time accepted (the wall clock plus the allowed skew, see
    `future_bound`): one event stamped in the future would drag its partition's watermark there
    for good and fire every deadline up to it, so it is rejected as `future_ts` instead."""
    try:
        event = _decode(raw, key)
    except _Invalid as invalid:
        return Rejection(invalid.reason, invalid.message)
    if latest_ms is not None and event.ts > latest_ms:
        return Rejection("future_ts", f"'ts' {format_ts(event.ts)} is ahead of the wall clock by more than the "
                                      f"allowed skew (latest accepted: {format_ts(latest_ms)})")
    return event


def future_bound(wall_clock_ms: int, max_future_ms: int) -> int:
    """The newest event time `decode_event` accepts now."""
    return wall_clock_ms + max_future_ms


def _decode(raw: bytes, key: bytes | None) -> Event:
    if len(raw) > MAX_EVENT_BYTES:
        raise _Invalid("too_large", f"event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        reason = "not_utf8" if "utf-8" in str(error).lower() else "not_json"
        raise _Invalid(reason, f"not a JSON document: {error}") from None
    if not isinstance(doc, dict):
        raise _Invalid("bad_type", f"expected a JSON object, got {type(doc).__name__}")
    event_type = _required_str(doc, "type")
    if event_type not in EVENT_TYPES:
        raise _Invalid("unknown_type", f"unknown event type {event_type!r}; expected one of {EVENT_TYPES}")
    customer_id = _identifier(doc, "customer_id")
    if key is not None and key != customer_id.encode():
        raise _Invalid("key_mismatch", f"record key {key[:64]!r} differs from customer_id {customer_id!r}")
    event_id = _identifier(doc, "event_id")
    ts = parse_timestamp(doc.get("ts"))
    if event_type == PROFILE:
        _traits_object(doc)
    elif event_type == CUSTOM:
        _custom_name(doc)
    if event_type != ORDER:
        return Event(event_id, event_type, customer_id, ts)
    return Event(
        event_id,
        event_type,
        customer_id,
        ts,
        amount_cents=_amount_cents(doc.get("amount")),
        coupon=bool(_optional_str(doc, "coupon")),
        channel=_label("channel", _optional_str(doc, "channel")),
        categories=tuple(_checked_label("items[].category", category) for category in _categories(doc.get("items"))),
    )


def _traits_object(doc: dict) -> None:
    """A profile's `traits` must be an object; its values are checked against the rule pack's
    declared traits when the engine routes the event (they depend on the pack, decoding does not)."""
    traits = doc.get("traits")
    if traits is None:
        raise _Invalid("missing_field", "a profile event needs a 'traits' object")
    if not isinstance(traits, dict):
        raise _Invalid("bad_type", f"'traits' must be an object, got {type(traits).__name__}")


def _custom_name(doc: dict) -> None:
    """A custom event's `name` is what property metrics select it by: bounded like a label."""
    name = _required_str(doc, "name")
    if not 0 < len(name) <= MAX_LABEL_CHARS or not name.isprintable():
        raise _Invalid("bad_value", f"'name' must be 1..{MAX_LABEL_CHARS} printable characters")


def parse_timestamp(value: object) -> int:
    """RFC 3339 string or integer epoch milliseconds -> epoch milliseconds, range-checked (see
    EARLIEST_MS, SMALLEST_EPOCH_MS)."""
    if value is None:
        raise _Invalid("missing_field", "missing field 'ts'")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        # A container is named by its type: its repr can be megabytes, or nested too deep to print.
        shown = type(value).__name__ if isinstance(value, (list, dict)) else repr(value)
        raise _Invalid("bad_type", f"'ts' must be an RFC 3339 string or epoch milliseconds, got {shown}")
    if isinstance(value, int):
        if 0 <= value < SMALLEST_EPOCH_MS:
            raise _Invalid("bad_value", f"'ts' {value} looks like epoch seconds; send epoch milliseconds "
                                        "(or RFC 3339 text for instants before 1973-03-03)")
        ts = value
    else:
        ts = _rfc3339_ms(value)
    if ts < EARLIEST_MS:
        raise _Invalid("bad_value", f"'ts' {_shown(value)} is before 1970-01-01")
    if ts > LATEST_MS:
        raise _Invalid("bad_value", f"'ts' {_shown(value)} is after 9999-12-31 (epoch microseconds or nanoseconds?)")
    return ts


def _rfc3339_ms(value: str) -> int:
    """Epoch milliseconds of an RFC 3339 text as the schemas' pattern allows it, with Python's
    calendar checks (real days, no leap second, offsets below 24 h with minutes up to 59)."""
    match = _RFC3339.fullmatch(value)
    minutes = match and match["offset_minutes"]
    if match is None or (minutes is not None and int(minutes) > 59):
        raise _Invalid("bad_value", f"'ts' is not RFC 3339: {value[:64]!r}")
    zone = (match["zone"] or "").upper()
    try:
        moment = datetime.fromisoformat(f"{match['date']}T{match['time']}{zone}")
    except ValueError:
        raise _Invalid("bad_value", f"'ts' is not RFC 3339: {value[:64]!r}") from None
    if moment.tzinfo is None:
        raise _Invalid("bad_value", f"'ts' has no timezone: {value[:64]!r}")
    return round(moment.timestamp() * 1000)


def _shown(value: int | str) -> str:
    return repr(value[:64]) if isinstance(value, str) else str(value)


def _required_str(doc: dict, field: str) -> str:
    value = doc.get(field)
    if value is None:
        raise _Invalid("missing_field", f"missing field {field!r}")
    if not isinstance(value, str):
        raise _Invalid("bad_type", f"{field!r} must be a string, got {type(value).__name__}")
    return value


def is_identifier(text: str) -> bool:
    """A valid event or customer id: 1..MAX_ID_CHARS printable characters."""
    return 0 < len(text) <= MAX_ID_CHARS and text.isprintable()


def _identifier(doc: dict, field: str) -> str:
    value = _required_str(doc, field)
    if not is_identifier(value):
        raise _Invalid("bad_value", f"{field!r} must be 1..{MAX_ID_CHARS} printable characters")
    return value


def _optional_str(doc: dict, field: str) -> str | None:
    value = doc.get(field)
    if value is None or isinstance(value, str):
        return value or None
    raise _Invalid("bad_type", f"{field!r} must be a string, got {type(value).__name__}")


def _label(field: str, value: str | None) -> str | None:
    return None if value is None else _checked_label(field, value)


def _checked_label(field: str, value: str) -> str:
    if len(value) > MAX_LABEL_CHARS:
        raise _Invalid("bad_value", f"{field!r} must be at most {MAX_LABEL_CHARS} characters, got {len(value)} ({value[:32]!r}...)")
    return value


def _amount_cents(value: object) -> int:
    if value is None:
        raise _Invalid("missing_field", "an order needs an 'amount'")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid("bad_type", f"'amount' must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or not 0 <= value <= MAX_AMOUNT:
        raise _Invalid("bad_value", f"'amount' must be between 0 and {MAX_AMOUNT:.0f}, got {value!r}")
    return round(value * 100)


def _categories(items: object) -> tuple[str, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise _Invalid("bad_type", "'items' must be a list")
    found = []
    for item in items:
        category = item.get("category") if isinstance(item, dict) else None
        if isinstance(category, str) and category and category not in found:
            found.append(category)
    return tuple(found)
