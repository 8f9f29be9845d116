"""Worker settings: defined once here, each with its environment variable and meaning.

Precedence: command-line option > `TAGSTREAM_*` environment variable > default. The README's
configuration table is checked against `SETTINGS_DOC` by a test, so the two cannot drift.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from stream.timeutil import parse_duration

ROOT = Path(__file__).resolve().parents[1]  # the installed packages' parent: never write below it


def state_dir() -> Path:
    """Where tagstream keeps local files by default: `$XDG_STATE_HOME/tagstream` when that is set,
    else `.local` under the working directory (the repository, for `make run`); never beside the
    installed packages, which may be a read-only site-packages."""
    xdg = os.environ.get("XDG_STATE_HOME")
    return Path(xdg) / "tagstream" if xdg else Path.cwd() / ".local"

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    kafka_broker: str = _setting("127.0.0.1:9092", "Kafka bootstrap server(s), host:port[,host:port]")
    kafka_security_protocol: str = _setting("PLAINTEXT", (
        "How every Kafka client connects: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` (managed Kafka "
        "services: `SASL_SSL`)"
    ))
    kafka_sasl_mechanism: str = _setting("PLAIN", "SASL mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`")
    kafka_sasl_username: str = _setting("", "SASL user name")
    kafka_sasl_password: str = _setting("", "SASL password (never printed)")
    kafka_ssl_cafile: str = _setting("", "CA certificate(s) (PEM) the broker's certificate is checked against; empty: the system's trusted CAs")
    redis_url: str = _setting("redis://127.0.0.1:6379/0", "Redis for the serving layer")
    app_id: str = _setting("tagstream", "Faust app id: consumer group and prefix of internal topics")
    partitions: int = _setting(8, "Partition count of every input topic, the tick topic and the state changelog")
    topic_orders: str = _setting("orders", "Input topic for `order` events")
    topic_email_opens: str = _setting("email-opens", "Input topic for `email_open` events")
    topic_clicks: str = _setting("clicks", "Input topic for `click` events")
    topic_visits: str = _setting("visits", "Input topic for `visit` events")
    topic_profiles: str = _setting("profiles", "Input topic for `profile` events (customer traits)")
    topic_custom: str = _setting("custom-events", "Input topic for `custom` events (a name and properties)")
    topic_ticks: str = _setting("tagstream-ticks", "Internal clock topic, co-partitioned with the inputs")
    topic_changes: str = _setting("customer-tag-changes", "Output: one CloudEvent per tag change")
    topic_dlq: str = _setting("tagstream-dlq", "Dead letters: rejected records with the reason in headers")
    rules: str = _setting("", "Rule pack (TOML); empty means config/rules/default.toml")
    clock: str = _setting("live", "`live`: wall-clock ticks also advance time; `event`: only event time does")
    tick_interval: float = _setting(1.0, "Seconds between clock ticks / watermark refreshes")
    source_idle_after: float = _setting(2.0, "Seconds without records after which a drained input topic stops holding the watermark back")
    max_future: str = _setting("5m", (
        "How far an event's time may be ahead of the wall clock (a duration: 90s, 5m, 400d); later events are"
        " rejected as `future_ts` and move no watermark"
    ))
    web_bind: str = _setting("127.0.0.1", "Address of the web server (metrics, lookups)")
    web_port: int = _setting(6066, "Port of the web server")
    api_token: str = _setting("", (
        "Bearer token the HTTP lookups (`/customers`, `/audiences`) require (`Authorization: Bearer TOKEN`); "
        "empty: none (the web server binds to 127.0.0.1 by default). `/metrics` stays open for Prometheus"
    ))
    faust_web_endpoints: bool = _setting(False, (
        "Serve Faust's own `/router` and `/table` endpoints (off: they expose the cluster's layout and table "
        "contents, and tagstream uses neither)"
    ))
    replication_factor: int = _setting(0, (
        "Replication factor of the topics tagstream creates (inputs, ticks, changes, dead letters, changelog,"
        " Faust's own); 0 (auto): 3 when the cluster has 3 or more brokers, else 1"
    ))
    instance_id: str = _setting("auto", (
        "The worker's static member name in the consumer group (Kafka `group.instance.id`): a worker "
        "restarted under the same name takes its partitions back at once instead of waiting out the dead "
        "process's session. `auto`: host name and web port; empty: dynamic membership (a stopped worker's "
        "partitions move at once, a restart rebalances)"
    ))
    commit_interval: float = _setting(0.5, "Seconds between offset commits")
    batch_size: int = _setting(1000, "Records the agent processes per batch (one delivery wait, one state write each)")
    batch_wait: float = _setting(0.05, (
        "Seconds the agent waits to fill a batch (each record waits about half of it when traffic is light; "
        "0.01 gives p99 < 40 ms at 100 events/s)"
    ))
    data_dir: str = _setting(str(state_dir() / "worker"), (
        "Faust's data directory (the worker's state itself lives in the changelog topic); default: "
        "$XDG_STATE_HOME/tagstream/worker, else .local/worker under the working directory"
    ))
    log_level: str = _setting("info", "Log level of the worker")
    log_format: str = _setting("text", (
        "The worker's log lines: `text`, or `json` (one JSON object per line: time, level, logger, message, "
        "and topic/partition where known)"
    ))

    @property
    def max_future_ms(self) -> int:
        return parse_duration(self.max_future)

    @property
    def group_instance_id(self) -> str | None:
        """`instance_id` resolved: unique per worker process on a host (each serves its own web port)."""
        if self.instance_id == "auto":
            return f"{socket.gethostname()}-{self.web_port}"
        return self.instance_id or None

    @property
    def input_topics(self) -> dict[str, str]:
        """Topic -> the event type it carries."""
        return {
            self.topic_orders: "order",
            self.topic_email_opens: "email_open",
            self.topic_clicks: "click",
            self.topic_visits: "visit",
            self.topic_profiles: "profile",
            self.topic_custom: "custom",
        }

    @property
    def topic_for_type(self) -> dict[str, str]:
        return {event_type: topic for topic, event_type in self.input_topics.items()}

    @property
    def topic_changelog(self) -> str:
        """The customers' durable state (compacted; agents/changelog.py): named after the app id."""
        return f"{self.app_id}-customers-changelog"

    @property
    def all_topics(self) -> list[str]:
        return [self.topic_orders, self.topic_email_opens, self.topic_clicks, self.topic_visits, self.topic_profiles,
                self.topic_custom, self.topic_ticks, self.topic_changes, self.topic_dlq, self.topic_changelog]


def without_password(url: str) -> str:
    """A URL as it may be printed or written into a report: any password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


SETTINGS_DOC = {f.name: (f"TAGSTREAM_{f.name.upper()}", f.default, f.metadata["doc"]) for f in fields(Settings)}


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] = os.environ) -> Settings:
    """Defaults, then `TAGSTREAM_*` variables, then explicit overrides (CLI options, tests)."""
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = environ.get(f"TAGSTREAM_{f.name.upper()}")
        if raw is not None:
            values[f.name] = _convert(f.name, type(f.default), raw)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    settings = replace(Settings(), **values)
    _validate(settings)
    return settings


_BOOLEAN = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _convert(name: str, kind: type, raw: str) -> Any:
    if kind is bool:
        if raw.strip().lower() not in _BOOLEAN:
            raise ValueError(f"TAGSTREAM_{name.upper()}={raw!r} is not true or false")
        return _BOOLEAN[raw.strip().lower()]
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"TAGSTREAM_{name.upper()}={raw!r} is not a valid {kind.__name__}") from None


def _validate(settings: Settings) -> None:
    if settings.clock not in ("live", "event"):
        raise ValueError(f"clock must be 'live' or 'event', not {settings.clock!r}")
    if settings.log_format not in ("text", "json"):
        raise ValueError(f"log_format must be 'text' or 'json', not {settings.log_format!r}")
    try:
        settings.max_future_ms
    except ValueError as error:
        raise ValueError(f"max_future (--max-future, TAGSTREAM_MAX_FUTURE): {error}") from None
    if settings.source_idle_after < 0:
        raise ValueError("source_idle_after must not be negative")
    if settings.partitions < 1:
        raise ValueError("partitions must be at least 1")
    if settings.kafka_security_protocol not in SECURITY_PROTOCOLS:
        raise ValueError(f"kafka_security_protocol must be one of {', '.join(SECURITY_PROTOCOLS)}, not {settings.kafka_security_protocol!r}")
    if settings.kafka_sasl_mechanism not in SASL_MECHANISMS:
        raise ValueError(f"kafka_sasl_mechanism must be one of {', '.join(SASL_MECHANISMS)}, not {settings.kafka_sasl_mechanism!r}")
    if settings.kafka_security_protocol.startswith("SASL") and not (settings.kafka_sasl_username and settings.kafka_sasl_password):
        raise ValueError(f"{settings.kafka_security_protocol} needs TAGSTREAM_KAFKA_SASL_USERNAME and TAGSTREAM_KAFKA_SASL_PASSWORD")
    if settings.kafka_ssl_cafile and not Path(settings.kafka_ssl_cafile).is_file():
        raise ValueError(f"kafka_ssl_cafile: no such file: {settings.kafka_ssl_cafile}")
    if settings.replication_factor < 0:
        raise ValueError("replication_factor must be 0 (auto) or more")
    if len(set(settings.all_topics)) != len(settings.all_topics):
        raise ValueError(f"topic names must be distinct: {settings.all_topics}")
