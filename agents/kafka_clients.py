"""How every Kafka client tagstream makes connects: one place, from the settings.

Why: a secured cluster (TLS, SASL; managed services need SASL_SSL) must work for the worker and
for every command alike, and the client libraries in use spell their options differently:
Faust takes credentials objects, the aiokafka and kafka-python clients keyword options.
"""

from __future__ import annotations

import ssl
from typing import Any

from config.settings import Settings


def _sasl(settings: Settings) -> dict[str, Any]:
    if not settings.kafka_security_protocol.startswith("SASL"):
        return {}
    return {"sasl_mechanism": settings.kafka_sasl_mechanism, "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password}


def _uses_tls(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of a TLS connection: the broker's certificate and host name checked against
    the configured CA (or the system's)."""
    if not _uses_tls(settings):
        return None
    return ssl.create_default_context(cafile=settings.kafka_ssl_cafile or None)


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for an aiokafka or a kafka-python client (both take these names and an
    `ssl_context`)."""
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_broker,
                               "security_protocol": settings.kafka_security_protocol, **_sasl(settings)}
    if (context := ssl_context(settings)) is not None:
        options["ssl_context"] = context
    return options


def faust_credentials(settings: Settings) -> Any:
    """`broker_credentials` for the Faust app (None: plaintext)."""
    import faust
    from faust.types.auth import SASLMechanism

    context = ssl_context(settings)
    if settings.kafka_security_protocol.startswith("SASL"):
        return faust.SASLCredentials(username=settings.kafka_sasl_username, password=settings.kafka_sasl_password,
                                     mechanism=SASLMechanism(settings.kafka_sasl_mechanism), ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None
