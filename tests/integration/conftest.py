"""Integration tests need the real broker and Redis that `make up` starts; without them they fail
loudly (never skip), because a green run that tested nothing would be a lie."""

from __future__ import annotations

import os
import socket

import pytest
import redis

from tests.integration.harness import BROKER, Deployment



def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


def _answers(host_port: str) -> bool:
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def real_services() -> None:
    assert _answers(BROKER), f"no Kafka broker at {BROKER}: run `make up` (or `make test`, which starts it)"
    url = os.environ.get("TAGSTREAM_REDIS_URL", "redis://127.0.0.1:6379/0")
    assert redis.Redis.from_url(url).ping(), f"no Redis at {url}: run `make up`"


@pytest.fixture
def deployment(tmp_path):
    deployed = Deployment.create(tmp_path)
    yield deployed
    deployed.remove()
