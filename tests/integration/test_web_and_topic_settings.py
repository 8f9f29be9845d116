"""Production settings through the real broker: the HTTP lookups behind a bearer token, Faust's
own /router and /table views off, and topics created with the replication factor the cluster can
hold (auto: 1 on this single broker) or a clear error when it cannot."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from dataclasses import replace

import pytest

from agents.topics import ensure_topics, replication_factor


def status(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_lookups_need_the_bearer_token_and_faust_views_are_off(deployment):
    deployment.env["TAGSTREAM_API_TOKEN"] = "s3cret-token"
    worker = deployment.start_worker("--clock", "event")
    try:
        base = f"http://127.0.0.1:{worker.port}"
        for path in ("/customers/c1", "/audiences/lifecycle/active"):
            assert status(base + path) == 401, f"{path} without a token"
            assert status(base + path, "wrong") == 401, f"{path} with a wrong token"
        deadline = time.monotonic() + 60
        # Routed once the worker holds its partitions: until then Faust answers 503, or 500 while
        # its producer has no metadata for the routing topic yet (a startup race in Faust's
        # topic_route, noted in the stop-25 note, left as it is).
        while (answer := status(base + "/customers/c1", "s3cret-token")) in (500, 503) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert answer == 404, "authorized: an unknown customer"
        assert status(base + "/audiences/lifecycle/active", "s3cret-token") == 200
        assert status(base + "/metrics") == 200, "Prometheus scrapes without a token"
        assert status(base + "/router/") == 404 and status(base + "/table/") == 404, "Faust's own views are not served"
    finally:
        worker.stop()


def test_topics_get_the_replication_factor_the_cluster_holds(deployment):
    assert replication_factor(deployment.settings) == 1, "auto on a single broker"
    prefix = f"rf-{uuid.uuid4().hex[:8]}"
    names = {f"topic_{name}": f"{prefix}-{name}" for name in ("orders", "email_opens", "clicks", "visits", "profiles", "custom", "ticks", "changes", "dlq")}
    wanted = replace(deployment.settings, app_id=prefix, replication_factor=2, **names)
    with pytest.raises(RuntimeError, match="replication factor 2: the cluster at .* has fewer brokers"):
        ensure_topics(wanted)
