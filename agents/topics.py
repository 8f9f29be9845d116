"""Create the project's topics with explicit, equal partition counts.

The broker runs with auto-creation off and Faust never creates source topics, and a table only
works if every input topic has its partition count, so this is the one place topics are made.
"""

from __future__ import annotations

import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import InvalidReplicationFactorError, KafkaError, TopicAlreadyExistsError

from agents.kafka_clients import client_options
from config.settings import Settings


def admin_client(settings: Settings, timeout_s: float = 60.0) -> KafkaAdminClient:
    """Connect, retrying while a freshly started broker is still coming up."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(**client_options(settings), client_id="tagstream-admin")
        except KafkaError as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka at {settings.kafka_broker} did not answer within {timeout_s:.0f}s: {error}") from None
            time.sleep(0.5)


def replication_factor(settings: Settings, admin: KafkaAdminClient | None = None) -> int:
    """The setting, or for 0 (auto) 3 on a cluster of 3 or more brokers and 1 on a smaller one
    (a laptop's single broker)."""
    if settings.replication_factor:
        return settings.replication_factor
    client = admin or admin_client(settings)
    try:
        return 3 if len(client.describe_cluster()["brokers"]) >= 3 else 1
    finally:
        if admin is None:
            client.close()


def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics; refuse to run against existing ones with a different partition count."""
    admin = admin_client(settings)
    try:
        existing = _partition_counts(admin, settings.all_topics)
        wrong = {t: n for t, n in existing.items() if n != settings.partitions}
        if wrong:
            raise RuntimeError(
                f"topics {wrong} exist with a partition count other than {settings.partitions}; "
                "every input topic must match the state changelog (recreate them or set TAGSTREAM_PARTITIONS)"
            )
        missing = [t for t in settings.all_topics if t not in existing]
        if missing:
            replicas = replication_factor(settings, admin)
            try:
                admin.create_topics([NewTopic(t, settings.partitions, replicas, topic_configs=_configs(settings, t)) for t in missing])
            except TopicAlreadyExistsError:
                pass  # created concurrently by another `make up` or worker
            except InvalidReplicationFactorError:
                raise RuntimeError(f"cannot create topics with replication factor {replicas}: the cluster at "
                                   f"{settings.kafka_broker} has fewer brokers (set TAGSTREAM_REPLICATION_FACTOR)") from None
        return missing
    finally:
        admin.close()


def _configs(settings: Settings, topic: str) -> dict[str, str]:
    """The changelog keeps the latest state per customer (compaction), everything else its records."""
    return {"cleanup.policy": "compact"} if topic == settings.topic_changelog else {}


def _partition_counts(admin: KafkaAdminClient, topics: list[str]) -> dict[str, int]:
    present = set(admin.list_topics())
    wanted = [t for t in topics if t in present]
    if not wanted:
        return {}
    return {d["name"]: len(d["partitions"]) for d in admin.describe_topics(wanted)}


def delete_topics(settings: Settings, topics: list[str]) -> None:
    """Best effort: remove topics a short-lived run created (demo, tests)."""
    admin = admin_client(settings, timeout_s=10)
    try:
        present = [t for t in topics if t in set(admin.list_topics())]
        if present:
            admin.delete_topics(present)
    except KafkaError:
        pass
    finally:
        admin.close()
