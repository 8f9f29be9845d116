"""A secured cluster, for real: the broker `make up` starts also listens with SASL_SSL (PLAIN over
TLS, a self-signed CA; scripts/services.sh). Through that listener only, `tagstream topics`
creates the topics, `replay` produces a generated log, the worker tags it (its changelog reads and
hole reads included) and `tail` prints every change the offline oracle expects."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from agents.kafka_clients import client_options
from config.settings import ROOT, load_settings
from tests.faults.common import oracle
from tests.integration.harness import BROKER, Deployment, RedisServer, isolated_environment

PORT = int(BROKER.rpartition(":")[2])

def tls_dir() -> Path:
    state = Path(os.environ.get("TAGSTREAM_LOCAL_DIR", ROOT / ".local"))
    tls = state / f"kafka-{PORT}" / "tls"
    assert (tls / "ca.pem").is_file(), f"no TLS material in {tls}: restart the services (`make down && make up`)"
    return tls


def secured_environment(tmp) -> dict[str, str]:
    tls = tls_dir()
    credentials = dict(line.split("=", 1) for line in (tls / "credentials").read_text().split())
    return {**isolated_environment(tmp), "TAGSTREAM_KAFKA_BROKER": f"127.0.0.1:{PORT + 2}",
            "TAGSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "TAGSTREAM_KAFKA_SASL_MECHANISM": "PLAIN",
            "TAGSTREAM_KAFKA_SASL_USERNAME": credentials["username"], "TAGSTREAM_KAFKA_SASL_PASSWORD": credentials["password"],
            "TAGSTREAM_KAFKA_SSL_CAFILE": str(tls / "ca.pem")}


def test_topics_replay_worker_and_tail_through_a_sasl_ssl_listener(tmp_path):
    env = secured_environment(tmp_path)
    redis = RedisServer(tmp_path)
    redis.start()
    env["TAGSTREAM_REDIS_URL"] = redis.url
    deployment = Deployment(env, load_settings(environ=env), tmp_path, redis)
    worker = None
    try:
        made = deployment.cli("topics")
        assert made.returncode == 0 and "created" in made.stdout, made.stderr
        log = tmp_path / "events.jsonl"
        assert deployment.cli("generate", "--customers", "60", "--days", "120", "--seed", "7", "--out", str(log)).returncode == 0
        expected = oracle(deployment, log)
        replayed = deployment.cli("replay", str(log))
        assert replayed.returncode == 0, replayed.stderr
        worker = deployment.start_worker("--clock", "event")
        tailed = deployment.cli("tail", "--from-beginning", "--json", "--max", str(len(expected)), "--idle-exit", "60")
        assert tailed.returncode == 0, tailed.stderr
        published = {orjson.loads(line)["id"] for line in tailed.stdout.splitlines()}
        assert published == set(expected), f"{len(published)} changes through SASL_SSL, {len(expected)} expected"
        assert worker.alive
    finally:
        if worker is not None:
            worker.stop()
        deployment.remove()


def test_a_wrong_password_is_refused_by_the_secured_listener(tmp_path):
    env = {**secured_environment(tmp_path), "TAGSTREAM_KAFKA_SASL_PASSWORD": "not-the-password"}
    with pytest.raises(KafkaError):
        KafkaAdminClient(**client_options(load_settings(environ=env)), request_timeout_ms=5000,
                         api_version_auto_timeout_ms=5000).close()
