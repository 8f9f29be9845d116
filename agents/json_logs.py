"""Logs machines can read: `TAGSTREAM_LOG_FORMAT=json` gives one JSON object per line.

Each line has `time` (RFC 3339, UTC, milliseconds), `level`, `logger` and `message` (the text as
the plain format would show it), `topic` and `partition` when the logging call passed them
(`extra={"topic": ..., "partition": ...}`), and `error` with the traceback of an exception. A log
shipper (Loki, Elasticsearch, CloudWatch) then indexes fields instead of parsing text.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from stream.timeutil import format_ts

LOG_FORMATS = ("text", "json")
# Attributes a logging call may attach (`extra=`) that are worth a field of their own.
CONTEXT_FIELDS = ("topic", "partition", "customer_id")


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": format_ts(int(record.created * 1000)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def logging_config(level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for Faust's worker: every logger, JSON lines on stdout."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "root": {"level": level.upper(), "handlers": ["default"]},
    }
