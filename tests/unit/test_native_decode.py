"""The Rust decoder (`stream._native.decode_batch`) against the Python one (`schemas.events.decode_event`).

The Python decoder is the specification: every input both are meant to agree on must give the same
event, or the same rejection reason and message. The documented differences (docs/native.md) are
pinned by table tests here, and the generated inputs stay outside them.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.settings import ROOT
from schemas.events import EVENT_TYPES, MAX_EVENT_BYTES, Event, Rejection, decode_event
from stream import _native

# The `ts` pattern of the event schemas: what both decoders read as RFC 3339 (plus calendar checks).
SCHEMA_TS = re.compile(orjson.loads((ROOT / "schemas" / "json" / "click.schema.json").read_bytes())
                       ["properties"]["ts"]["oneOf"][0]["pattern"])
NOW_MS = 1_796_212_800_000  # 2026-12-02T12:00:00Z

Outcome = tuple


def python_outcome(raw: bytes, key: bytes | None, latest_ms: int | None) -> Outcome:
    decoded = decode_event(raw, key, latest_ms)
    if isinstance(decoded, Rejection):
        return (decoded.reason, decoded.message)
    return (decoded.event_id, decoded.type, decoded.customer_id, decoded.ts, decoded.amount_cents, decoded.coupon,
            decoded.channel, decoded.categories)


def native_outcome(raw: bytes, key: bytes | None, latest_ms: int | None) -> Outcome:
    return _native.decode_batch([raw], [key], latest_ms)[0]


def assert_same(raw: bytes, key: bytes | None = None, latest_ms: int | None = None) -> None:
    expected, actual = python_outcome(raw, key, latest_ms), native_outcome(raw, key, latest_ms)
    if len(expected) == 2 and expected[0] == "not_json":
        # The JSON parsers word their own errors differently (orjson vs serde_json); the reason agrees.
        assert actual[0] == "not_json", (raw[:200], expected, actual)
    else:
        assert actual == expected, raw[:200]


# --- generated documents: raw JSON text, so duplicate keys, `-0`, big and exponent numbers occur ---

def dumps(value: object) -> str:
    return orjson.dumps(value).decode()


json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
number_literals = st.from_regex(r"\A-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?\Z")
raw_oddities = st.sampled_from(['"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"', '"\\u0000"', "-0", "1e400", "[]", "{}", '"a\\u2028b"'])


@st.composite
def rfc3339_texts(draw: st.DrawFn) -> str:
    """Mostly valid schema-form instants from 0001 to 9999, with edge values of each field."""
    year = draw(st.integers(0, 9999) | st.sampled_from([1969, 1970, 1972, 1973, 2024, 2025, 9999]))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32) | st.sampled_from([28, 29, 30, 31]))
    hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 60)), draw(st.integers(0, 61))
    text = f"{year:04d}-{month:02d}-{day:02d}{draw(st.sampled_from('Tt'))}{hour:02d}:{minute:02d}:{second:02d}"
    text += draw(st.sampled_from(["", ".0", ".5", ".999", ".0005", ".0015"]) | st.from_regex(r"\A\.[0-9]{1,12}\Z"))
    offset = draw(st.sampled_from(["Z", "", "+00:00", "-00:00", "+23:59", "+24:00", "-05:30", "+14:00"])
                  | st.from_regex(r"\A[+-][0-2][0-9]:[0-5][0-9]\Z"))
    return text + offset


ts_values = (
    rfc3339_texts().map(dumps)
    | st.integers(-(2**63), 2**64 - 1).map(str)
    | st.sampled_from([0, 99_999_999_999, 100_000_000_000, 253_402_300_799_999, 253_402_300_800_000, NOW_MS]).map(str)
    | st.integers(NOW_MS - 10**9, NOW_MS + 10**9).map(str)
    | st.text(max_size=30).map(dumps)
    | number_literals
    | json_values.map(dumps)
)
amount_values = number_literals | st.floats(0, 1e9).map(dumps) | st.integers(-10, 10**10).map(str) | json_values.map(dumps)
identifiers = st.text(min_size=0, max_size=130) | st.text(alphabet="c0123456789", min_size=1, max_size=6)
items_values = st.lists(
    st.dictionaries(st.sampled_from(["category", "sku"]), st.sampled_from(["shoes", "hats", ""]) | json_scalars, max_size=2)
    | json_scalars, max_size=4,
).map(dumps) | json_values.map(dumps)


def field(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Usually one `"name": value` pair, sometimes none, null, or a duplicate key."""
    return st.one_of(
        values.map(lambda v: [(name, v)]),
        values.map(lambda v: [(name, v)]),
        st.just([]),
        st.just([(name, "null")]),
        st.tuples(values, values).map(lambda vs: [(name, vs[0]), (name, vs[1])]),
        raw_oddities.map(lambda v: [(name, v)]),
    )


@st.composite
def documents(draw: st.DrawFn) -> tuple[bytes, str]:
    customer = draw(identifiers)
    pairs = (
        draw(field("type", st.sampled_from([*EVENT_TYPES, "order", "refund", ""]).map(dumps) | json_values.map(dumps)))
        + draw(field("customer_id", st.just(customer).map(dumps) | json_values.map(dumps)))
        + draw(field("event_id", identifiers.map(dumps) | json_values.map(dumps)))
        + draw(field("ts", ts_values))
        + draw(field("amount", amount_values))
        + draw(field("coupon", st.sampled_from(['""', '"SPRING"']) | json_values.map(dumps)))
        + draw(field("channel", st.sampled_from(['""', '"web"']) | json_values.map(dumps)))
        + draw(field("items", items_values))
    )
    pairs = draw(st.permutations(pairs))
    ascii_only = draw(st.booleans())
    text = "{" + ",".join(f"{json.dumps(k, ensure_ascii=ascii_only)}:{v}" for k, v in pairs) + "}"
    return text.encode("utf-8", "surrogatepass"), customer


@st.composite
def records(draw: st.DrawFn) -> tuple[bytes, bytes | None, int | None]:
    raw, customer = draw(documents())
    mutation = draw(st.sampled_from(["none"] * 6 + ["truncate", "flip", "bom", "pad", "random", "scalar"]))
    if mutation == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif mutation == "flip":
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]
    elif mutation == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif mutation == "pad":
        raw = raw + b" " * (MAX_EVENT_BYTES - len(raw) + draw(st.integers(-1, 1)))
    elif mutation == "random":
        raw = draw(st.binary(max_size=64))
    elif mutation == "scalar":
        raw = draw(json_values.map(orjson.dumps))
    key = draw(st.none() | st.just(customer.encode("utf-8", "surrogatepass")) | st.binary(max_size=80))
    latest_ms = draw(st.none() | st.sampled_from([NOW_MS, 0, 253_402_300_799_999]))
    return raw, key, latest_ms


def ts_text_of(raw: bytes) -> list[str]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    return [doc["ts"]] if isinstance(doc, dict) and isinstance(doc.get("ts"), str) else []


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records())
def test_native_decoder_agrees_with_python(record):
    raw, key, latest_ms = record
    assert_same(raw, key, latest_ms)


@settings(max_examples=100, deadline=None)
@given(st.lists(records(), max_size=10))
def test_a_batch_is_decoded_record_by_record(batch):
    values = [raw for raw, _, _ in batch]
    keys = [key for _, key, _ in batch]
    assert _native.decode_batch(values, keys, NOW_MS) == [native_outcome(raw, key, NOW_MS) for raw, key in zip(values, keys)]


@pytest.mark.parametrize("raw", [
    b"", b" ", b"\xff", b"\xef\xbb\xbf{}", b'{"a":"\xed\xa0\x80"}', b'[' * 1024 + b']' * 1024, b'[' * 1025 + b']' * 1025,
    b'{"a":-0}', b'{"type":"visit","customer_id":"c","event_id":"e","ts":-0}', b'{"type":-0}', b'{"type":-0.0}',
    b'{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":-0}',
    b'{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":1e-0}',
    b'{"type":"visit","customer_id":"c","event_id":"e","ts":18446744073709551616}',
    b'{"type":"visit","customer_id":"c","event_id":"e","ts":123456789012345678901234567890}',
    b'{"type":"visit","customer_id":"c","event_id":"e","ts":1e400}',
    b'{"type":"visit","customer_id":"c","event_id":"e","ts":[1.5,{"a":null,"b":true}],"ts":{"x":[1e16,1e-05]}}',
    b'{"type":"visit","customer_id":"c\\u0085","event_id":"e","ts":100000000000}',
    b'{"type":"visit\\u0000it\'s","customer_id":"c","event_id":"e","ts":100000000000}',
    b'{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":0.125,"items":[{"category":"a"},'
    b'{"category":"b"},{"category":"a"},{"category":""},"x",{"category":1}],"coupon":"","channel":""}',
    # channel and category length bounds (MAX_LABEL_CHARS = 64 characters, not bytes)
    b'{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":1,"channel":"' + "é".encode() * 64 + b'"}',
    b'{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":1,"channel":"' + "é".encode() * 65 + b'"}',
    b'{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":1,"channel":"' + b"x'" * 1000 + b'"}',
    b'{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":1,"items":[{"category":"a"},'
    b'{"category":"' + b"y" * 65 + b'"}]}',
])
def test_edge_documents(raw):
    assert_same(raw)


def test_a_channel_or_category_beyond_the_label_bound_is_rejected_with_what_and_how_long():
    raw = b'{"type":"order","customer_id":"c","event_id":"e","ts":100000000000,"amount":1,"channel":"' + b"w" * 2000 + b'"}'
    reason, message = native_outcome(raw, None, None)
    assert reason == "bad_value"
    assert message.startswith("'channel' must be at most 64 characters, got 2000 ('wwww") and len(message) < 150


def test_record_key_must_be_the_customer_id():
    raw = orjson.dumps({"type": "visit", "customer_id": "c'1", "event_id": "e", "ts": 100_000_000_000})
    for key in [b"c'1", b"c1", b"x" * 100, b"\x00\xff'\"\\", None]:
        assert_same(raw, key)


@pytest.mark.parametrize("text", [
    "2025-01-01T00:00:00.0005Z", "2025-01-01T00:00:00.0015Z", "1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.9994Z",
    "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.9999999Z", "9999-12-31T23:00:00-01:00", "0001-01-01T00:00:00+00:01",
    "2025-01-01T00:00:00", "2025-02-29T00:00:00Z", "2024-02-29T00:00:00+23:59", "2025-01-01T00:00:00+24:00",
    "2025-01-01T00:00:60Z", "0000-01-01T00:00:00Z", "2025-01-01T00:00:00.123456789+05:30",
])
def test_timestamps_in_the_common_set(text):
    assert_same(orjson.dumps({"type": "click", "customer_id": "c", "event_id": "e", "ts": text}))


# ISO 8601 forms Python's `fromisoformat` reads but the schemas' RFC 3339 pattern does not: both
# decoders refuse them alike (issue #18: the decoders and the schemas accept the same texts), and
# both read the schema's lowercase `t` and `z`.
OUTSIDE_THE_SCHEMA = [
    "2025-01-01 00:00:00Z",  # space separator
    "2025-01-01x00:00:00Z",  # any separator character
    "2025-01-01T00:00:00.Z",  # a point without digits
    "2025-01-01T00:00:00,5Z",  # comma as decimal sign
    "2025-01-01T00:00Z",  # reduced precision
    "2025-01-01T00Z",
    "20250101T000000Z",  # basic format
    "2025-W01-1T00:00:00Z",  # week date
    "2025-001T00:00:00Z",  # ordinal date
    "2025-01-01T00:00:00+0100",  # offset without colon
    "2025-01-01T00:00:00+01",  # offset hours only
    "2025-01-01T00:00:00+01:00:30",  # offset seconds
    "2025-01-01T00:00:00+00:60",  # offset minute 60..99
    "2025-01-01T00:00:00 Z",  # space before the zone
    "2025-01-01",  # a date alone
]


@pytest.mark.parametrize("text", OUTSIDE_THE_SCHEMA)
def test_timestamps_outside_the_schema_pattern_are_refused_by_both(text):
    raw = orjson.dumps({"type": "click", "customer_id": "c", "event_id": "e", "ts": text})
    assert_same(raw)
    assert native_outcome(raw, None, None) == ("bad_value", f"'ts' is not RFC 3339: {text!r}")
    assert not SCHEMA_TS.fullmatch(text)


def test_lowercase_t_and_z_are_rfc_3339_for_both():
    raw = orjson.dumps({"type": "click", "customer_id": "c", "event_id": "e", "ts": "2025-01-01t00:00:00z"})
    assert_same(raw)
    assert python_outcome(raw, None, None)[3] == 1_735_689_600_000


def all_characters() -> list[str]:
    return [chr(code) for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF]


def test_identifier_printability_matches_this_python_for_every_character():
    """The generated table (scripts/gen_printable_table.py) must match the running interpreter."""
    chars = all_characters()
    values = [b'{"type":"click","customer_id":"c","ts":100000000000,"event_id":' + orjson.dumps(c) + b"}" for c in chars]
    refused = {c for c, outcome in zip(chars, _native.decode_batch(values)) if len(outcome) == 2}
    assert refused == {c for c in chars if not c.isprintable()}, f"regenerate the table (Unicode {_native.UNICODE_VERSION})"


def test_messages_quote_every_character_like_repr():
    chars = all_characters()
    values = [b'{"type":"click","customer_id":"c","event_id":"e","ts":' + orjson.dumps(c) + b"}" for c in chars]
    wrong = [c for c, outcome in zip(chars, _native.decode_batch(values)) if outcome[1] != f"'ts' is not RFC 3339: {c!r}"]
    assert wrong == []


# --- the fast path's edges: mostly valid events, written in every way JSON allows ---
# `decode_event` in Rust reads common-shaped events without a `serde_json::Value` and hands anything
# unusual to the full path (native/src/decode/fast.rs); both must give what Python gives.

WHITESPACE = st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n", "  \t\n "])


def escaped(text: str) -> str:
    """Every character as a `\\u` escape (astral ones as a surrogate pair)."""
    units = text.encode("utf-16-le", "surrogatepass")
    return '"' + "".join(f"\\u{int.from_bytes(units[i:i + 2], 'little'):04x}" for i in range(0, len(units), 2)) + '"'


@st.composite
def json_string(draw: st.DrawFn, text: st.SearchStrategy[str]) -> str:
    value = draw(text)
    # Mostly plain: a record has a dozen strings, and one escape anywhere sends it to the full path.
    style = draw(st.sampled_from(["plain"] * 40 + ["ascii", "escaped", "one"]))
    if style == "plain":
        return dumps(value)  # orjson escapes only '"', '\\' and control characters
    if style == "ascii":
        return json.dumps(value, ensure_ascii=True)
    if style == "escaped" or not value:
        return escaped(value)
    at = draw(st.integers(0, len(value) - 1))  # one character escaped, the rest plain
    return dumps(value[:at])[:-1] + escaped(value[at])[1:-1] + dumps(value[at + 1:])[1:]


@st.composite
def raw_json(draw: st.DrawFn, value: object) -> str:
    """`value` as JSON text with whitespace between the tokens and strings in any style."""
    ws = lambda: draw(WHITESPACE)  # noqa: E731
    if isinstance(value, str):
        return draw(json_string(st.just(value)))
    if isinstance(value, list):
        return "[" + ws() + ",".join(ws() + draw(raw_json(item)) + ws() for item in value) + "]"
    if isinstance(value, dict):
        members = (ws() + draw(json_string(st.just(k))) + ws() + ":" + ws() + draw(raw_json(v)) + ws() for k, v in value.items())
        return "{" + ws() + ",".join(members) + "}"
    return dumps(value)


printable_ids = st.text(st.characters(exclude_categories=["Cs", "Cc", "Cf", "Co", "Cn", "Zl", "Zp", "Zs"]) | st.just(" "),
                        min_size=1, max_size=130)
plain_ids = st.from_regex(r"\A[a-z]-c[0-9]{6}-[0-9]{1,3}\Z")
fast_ids = st.one_of(plain_ids, plain_ids, plain_ids, st.text("abc-_ 'é日\U0001f600\"\\/", min_size=1, max_size=8),
                     printable_ids, printable_ids, st.text(max_size=130))


@st.composite
def valid_ts_texts(draw: st.DrawFn) -> str:
    """Real instants of 1970-9999 in the schema's form, any fraction length, `Z` or an offset."""
    moment = draw(st.datetimes(datetime(1970, 1, 2), datetime(9999, 12, 30)))
    fraction = draw(st.sampled_from(["", ".0", f".{moment.microsecond:06d}"[:draw(st.integers(2, 7))], ".1234567891"]))
    zone = draw(st.sampled_from(["Z", "+00:00", "-05:30", "+14:00", "+23:59", "-23:59"]))
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone
fast_ts = (
    st.integers(100_000_000_000, 253_402_300_799_999).map(str)
    | st.sampled_from(["100000000000", "253402300799999", "1735689600000", "-0", "1.7e12", "1735689600000.0", "99999999999"])
    | rfc3339_texts().map(dumps)
    | valid_ts_texts().map(dumps)
    | valid_ts_texts().map(dumps)
)
fast_amounts = (
    st.integers(0, 10**9).map(str)
    | st.floats(0, 1e9).map(dumps)
    | st.from_regex(r"\A(0|[1-9][0-9]{0,9})\.[0-9]{1,20}\Z")
    | st.from_regex(r"\A(0|[1-9][0-9]{0,3})(\.[0-9]{1,3})?[eE][+-]?[0-9]{1,2}\Z")
    | st.sampled_from(["-0", "-0.0", "0", "0.0", "12", "12.0", "0.125", "0.375", "1.005", "1000000000", "1000000000.0",
                       "1000000000.0000001", "999999999.995", "1e9", "-1", "012", "1.", '"1"', "null"])
)
odd_items = st.one_of(
    st.dictionaries(st.sampled_from(["category", "sku", "qty", "price", "Category"]),
                    st.sampled_from(["shoes", "hats", "", "日本"]) | json_scalars, max_size=4),
    st.builds(lambda c: {"sku": "DR023", "category": c, "qty": 2, "price": 102.0}, st.sampled_from(["dresses", "hats", ""])),
    json_values,
)


@st.composite
def repeated_category(draw: st.DrawFn) -> str:
    """An item object with `category` twice: the last one counts."""
    first, last = draw(st.sampled_from(['"a"', '""', "1", "null"])), draw(st.sampled_from(['"a"', '"b"', '""', "1", "null"]))
    return f'{{"category":{first},"sku":"x","category":{last}}}'


@st.composite
def fast_items(draw: st.DrawFn) -> str:
    items = [draw(raw_json(item)) for item in draw(st.lists(odd_items, max_size=40))]
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), draw(repeated_category()))
    return "[" + ",".join(items) + "]"


@st.composite
def fast_path_events(draw: st.DrawFn) -> tuple[bytes, bytes | None, int | None]:
    kind = draw(st.sampled_from(["order", "order", "visit", "click", "email_open"]))
    customer = draw(fast_ids)
    fields = {
        "type": draw(json_string(st.just(kind))),
        "customer_id": draw(json_string(st.just(customer))),
        "event_id": draw(json_string(fast_ids)),
        "ts": draw(fast_ts),
    }
    if kind == "order" or draw(st.booleans()):
        fields["amount"] = draw(fast_amounts)
        for name in ("coupon", "channel"):
            choice = draw(st.sampled_from(["absent", "empty", "null", "text"]))
            if choice != "absent":
                fields[name] = {"empty": '""', "null": "null"}.get(choice) or draw(json_string(st.sampled_from(["web", "SPRING", "é"])))
        if draw(st.integers(0, 4)):
            fields["items"] = draw(fast_items() | st.sampled_from(["null", "[]", '{"category":"a"}', '"x"']))
    pairs = list(fields.items())
    # Keys the decoder does not read, with any value.
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["page", "source", "currency", "campaign_id", "Type", "type ", "", "日本"]))
        pairs.append((name, draw(raw_json(draw(json_values)))))
    pairs = draw(st.permutations(pairs))
    # Repeated keys: an earlier value of any kind, which the later one replaces (or a later one).
    for name in draw(st.lists(st.sampled_from(list(fields)), max_size=3)):
        value = draw(json_values.map(dumps) | st.sampled_from(['"order"', '""', "-0", "1e2", "[]"]) | st.just(fields[name]))
        last = max(at for at, (known, _) in enumerate(pairs) if known == name)
        pairs.insert(draw(st.integers(0, last if draw(st.integers(0, 9)) else len(pairs))), (name, value))
    ws = lambda: draw(WHITESPACE)  # noqa: E731
    members = [ws() + draw(json_string(st.just(name))) + ws() + ":" + ws() + value + ws() for name, value in pairs]
    raw = (ws() + "{" + ",".join(members) + "}" + ws()).encode()
    key = draw(st.sampled_from([None, None, customer.encode(), customer.encode(), b"c1", b""]))
    return raw, key, draw(st.sampled_from([None, None, None, NOW_MS, 253_402_300_799_999]))


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fast_path_events())
def test_native_fast_path_edges_agree_with_python(record):
    raw, key, latest_ms = record
    assert_same(raw, key, latest_ms)
