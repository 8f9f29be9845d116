"""schemas/asyncapi.json, the topic contracts users' tools read, is what `python -m schemas.asyncapi`
generates from the JSON Schemas and the default topic names: it cannot drift from either."""

from __future__ import annotations

import orjson

from config.settings import ROOT, Settings
from schemas.asyncapi import document
from schemas.events import EVENT_TYPES

COMMITTED = ROOT / "schemas" / "asyncapi.json"


def test_the_committed_document_is_the_generated_one():
    assert orjson.loads(COMMITTED.read_bytes()) == document(), "run: python -m schemas.asyncapi > schemas/asyncapi.json"


def test_every_topic_but_the_changelog_is_a_channel_with_its_schemas():
    doc = document()
    settings = Settings()
    assert doc["asyncapi"] == "3.0.0"
    assert sorted(doc["channels"]) == sorted(t for t in settings.all_topics if t != settings.topic_changelog)
    for topic, event_type in settings.input_topics.items():
        assert list(doc["channels"][topic]["messages"]) == [event_type]
        ref = doc["components"]["messages"][event_type]["payload"]["schema"]["$ref"]
        schema = orjson.loads((ROOT / "schemas" / ref).read_bytes())
        assert schema["properties"]["type"]["const"] == event_type
    assert sorted(settings.input_topics.values()) == sorted(EVENT_TYPES)


def test_every_reference_resolves():
    doc = document()

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from [value] if key == "$ref" else refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(doc):
        if ref.startswith("#/"):
            target = doc
            for part in ref[2:].split("/"):
                target = target[part]
        else:
            assert (ROOT / "schemas" / ref).is_file(), ref
    for operation in doc["operations"].values():
        assert operation["action"] in ("send", "receive")
