"""The topic contracts as an AsyncAPI 3.0 document (schemas/asyncapi.json) that users' tools read.

Generated from the JSON Schemas in schemas/json and the default topic names of config/settings.py,
so the three cannot drift apart: `python -m schemas.asyncapi > schemas/asyncapi.json` rewrites it,
and a test fails when the committed file is not what this writes. Payloads refer to the JSON
Schemas by relative `$ref`, so one schema file per event type stays the single source.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import fields
from typing import Any

import orjson

from config.settings import ROOT, Settings
from schemas.events import EVENT_TYPES

JSON_SCHEMA = "application/schema+json;version=draft-2020-12"
KEY_IS_CUSTOMER = {"type": "string", "description": "The customer id, raw UTF-8 (Kafka's default partitioner places it)."}
# setting -> (the channel's description, the messages on it, who sends them)
_OUTPUTS = {
    "topic_changes": ("Tag changes (CloudEvents 1.0, structured JSON), one per change of a customer's tag, and "
                      "the erasure notice of an erased customer.", ["tag_change", "customer_erased"], "receive"),
    "topic_dlq": ("Dead letters: each rejected input record with its original key and bytes; why and where in "
                  "the headers.", ["dead_letter"], "receive"),
    "topic_ticks": ("Internal clock: one record per partition per tick (`{\"wall_ms\": ...}` live, `{}` on the "
                    "event clock). Written and read by the workers only.", ["tick"], "receive"),
}


def _default(setting: str) -> str:
    return next(f.default for f in fields(Settings) if f.name == setting)  # type: ignore[return-value]  # str fields


def _input_setting(event_type: str) -> str:
    settings = Settings()
    return next(name for name in ("topic_orders", "topic_email_opens", "topic_clicks", "topic_visits", "topic_profiles",
                                  "topic_custom") if settings.input_topics[getattr(settings, name)] == event_type)


def _schema(name: str) -> dict[str, Any]:
    return orjson.loads((ROOT / "schemas" / "json" / f"{name}.schema.json").read_bytes())


def _message(name: str, schema: str | None, key: dict[str, Any] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"name": name, "contentType": "application/json"}
    if schema is not None:
        message["title"] = _schema(schema)["title"]
        message["payload"] = {"schemaFormat": JSON_SCHEMA, "schema": {"$ref": f"json/{schema}.schema.json"}}
    if key is not None:
        message["bindings"] = {"kafka": {"key": key, "bindingVersion": "0.5.0"}}
    return message


def document() -> dict[str, Any]:
    """The AsyncAPI document, as data."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type in EVENT_TYPES:
        setting = _input_setting(event_type)
        topic = _default(setting)
        messages[event_type] = _message(event_type, event_type, KEY_IS_CUSTOMER)
        channels[topic] = {
            "address": topic,
            "description": f"{_schema(event_type)['description']} Topic name: TAGSTREAM_{setting.upper()}.",
            "messages": {event_type: {"$ref": f"#/components/messages/{event_type}"}},
        }
        operations[f"send_{event_type}"] = {"action": "send", "channel": {"$ref": f"#/channels/{topic}"},
                                            "summary": f"Producers send {event_type} events."}
    messages["tag_change"] = _message("tag_change", "tag_change", KEY_IS_CUSTOMER)
    messages["customer_erased"] = _message("customer_erased", "customer_erased", KEY_IS_CUSTOMER)
    messages["dead_letter"] = {**_message("dead_letter", None, {"description": "The original record's key, unchanged."}),
                               "contentType": "application/octet-stream",
                               "description": "The original record's bytes, unchanged (maybe not JSON).",
                               "headers": {"schemaFormat": JSON_SCHEMA, "schema": {"$ref": "json/dlq.schema.json"}}}
    messages["tick"] = {"name": "tick", "contentType": "application/json",
                        "payload": {"schemaFormat": JSON_SCHEMA, "schema": {
                            "type": "object", "properties": {"wall_ms": {"type": "integer"}}, "additionalProperties": False}}}
    for setting, (description, names, action) in _OUTPUTS.items():
        topic = _default(setting)
        channels[topic] = {"address": topic, "description": f"{description} Topic name: TAGSTREAM_{setting.upper()}.",
                           "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names}}
        operations[f"{action}_{setting.removeprefix('topic_')}"] = {
            "action": action, "channel": {"$ref": f"#/channels/{topic}"},
            "summary": "Workers write and read the clock." if setting == "topic_ticks" else f"Consumers read {', '.join(names)}.",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "tagstream topics",
            "version": version,
            "description": "The Kafka topics tagstream reads and writes. Every input topic, the tick topic and the "
                           "changelog have the same partition count (TAGSTREAM_PARTITIONS, default 8); records are "
                           "keyed by customer id. Generated by `python -m schemas.asyncapi` from schemas/json.",
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka",
                              "description": "The broker `make up` starts (plaintext; SASL_SSL on port 9094)."}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def main() -> None:
    sys.stdout.write(orjson.dumps(document(), option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
