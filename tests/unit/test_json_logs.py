"""`TAGSTREAM_LOG_FORMAT=json`: each log record is one JSON object on one line."""

from __future__ import annotations

import io
import logging
import logging.config

import orjson
import pytest

from agents.json_logs import JsonFormatter, logging_config
from config.settings import load_settings


def test_a_record_is_one_line_with_its_level_logger_message_and_where():
    record = logging.LogRecord("agents.in_order", logging.WARNING, __file__, 1, "%s[%d]: skipped\nsecond line",
                               ("orders", 3), None)
    record.topic, record.partition = "orders", 3
    line = JsonFormatter().format(record)
    assert "\n" not in line
    doc = orjson.loads(line)
    assert doc["level"] == "warning" and doc["logger"] == "agents.in_order"
    assert doc["message"] == "orders[3]: skipped\nsecond line"
    assert (doc["topic"], doc["partition"]) == ("orders", 3)
    assert doc["time"].endswith("Z")


def test_an_exception_travels_as_a_field():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), __import__("sys").exc_info())
    doc = orjson.loads(JsonFormatter().format(record))
    assert "RuntimeError: boom" in doc["error"]


def test_the_config_routes_every_logger_through_it(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    config = logging_config("info")
    config["handlers"]["default"]["stream"] = out
    logging.config.dictConfig(config)
    try:
        logging.getLogger("faust.worker").info("ready")
        logging.getLogger("tagstream").debug("hidden")
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    lines = out.getvalue().splitlines()
    assert [orjson.loads(line)["message"] for line in lines] == ["ready"]


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="log_format must be 'text' or 'json', not 'xml'"):
        load_settings(environ={"TAGSTREAM_LOG_FORMAT": "xml"})
