"""Given a generated log processed by a worker through the real broker, Redis holds exactly the
backtest snapshot: one hash per customer and one set per (family, value); and it converges back
to that after Redis is killed mid-stream and restarted empty."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

from agents.serving.profiles import AUDIENCE, CUSTOMER, audience_key, record_from_hash
from config.settings import ROOT
from stream.timeutil import parse_instant
from tests.integration.harness import metric_value
from tests.unit.profile_reference import profile_from_record


def expected_redis(snapshot: bytes) -> tuple[dict[str, dict[str, str]], dict[str, set[str]]]:
    hashes: dict[str, dict[str, str]] = {}
    audiences: dict[str, set[str]] = {}
    for line in snapshot.splitlines():
        record = orjson.loads(line)
        profile = profile_from_record(record, parse_instant(record["as_of"]))
        hashes[CUSTOMER + profile.customer_id] = profile.fields
        for family, value in profile.tags.items():
            audiences.setdefault(audience_key(family, value), set()).add(profile.customer_id)
    return hashes, audiences


def actual_redis(client) -> tuple[dict[str, dict[str, str]], dict[str, set[str]]]:
    hashes = {key: client.hgetall(key) for key in client.scan_iter(CUSTOMER + "*", count=1000)}
    audiences = {key: client.smembers(key) for key in client.scan_iter(AUDIENCE + "*", count=1000)}
    return hashes, {key: members for key, members in audiences.items() if members}


def wait_until_equal(client, expected, timeout_s: float = 90) -> tuple:
    deadline = time.monotonic() + timeout_s
    actual = None
    while time.monotonic() < deadline:
        actual = actual_redis(client)
        if actual == expected:
            return actual
        time.sleep(1)
    return actual


def describe_difference(expected, actual) -> str:
    (want_h, want_a), (got_h, got_a) = expected, actual
    wrong = [k for k in want_h if got_h.get(k) != want_h[k]]
    sample = wrong[:1]
    detail = {k: {f: (want_h[k].get(f), got_h.get(k, {}).get(f)) for f in want_h[k] if want_h[k].get(f) != got_h.get(k, {}).get(f)} for k in sample}
    return (f"{len(wrong)} of {len(want_h)} hashes differ (e.g. {detail}); extra hashes {len(got_h.keys() - want_h.keys())}; "
            f"audiences differing {sum(1 for k in want_a.keys() | got_a.keys() if want_a.get(k) != got_a.get(k))}")


def prepare(deployment, tmp_path, customers: int = 300, days: int = 240):
    log, snapshot, changes = tmp_path / "events.jsonl", tmp_path / "snapshot.jsonl", tmp_path / "changes.jsonl"
    assert deployment.cli("generate", "--customers", str(customers), "--days", str(days), "--seed", "5", "--out", str(log)).returncode == 0
    offline = deployment.cli("backtest", str(log), "--as-of", "watermark", "--changes-out", str(changes), "--snapshot-out", str(snapshot))
    assert offline.returncode == 0, offline.stderr
    return log, expected_redis(snapshot.read_bytes())


def test_redis_holds_exactly_the_backtest_snapshot(deployment, tmp_path):
    log, expected = prepare(deployment, tmp_path)
    assert deployment.cli("replay", str(log)).returncode == 0
    worker = deployment.start_worker("--clock", "event")
    try:
        actual = wait_until_equal(deployment.redis.client(), expected)
        assert worker.alive, worker.tail()
    finally:
        worker.stop()
    assert actual == expected, describe_difference(expected, actual)
    assert_report_of_redis_keeps_ids_out(deployment, tmp_path, expected)


def assert_report_of_redis_keeps_ids_out(deployment, tmp_path, expected) -> None:
    """`report --redis` (a page meant to be shared) counts the live profiles and names no customer;
    the profiles it read, saved with --snapshot-out, are a snapshot to compare with later."""
    page, saved = tmp_path / "live.html", tmp_path / "live-snapshot.jsonl"
    done = deployment.cli("report", "--redis", deployment.redis.url, "--out", str(page), "--snapshot-out", str(saved))
    assert done.returncode == 0, done.stderr
    hashes = expected[0]
    assert by_customer(orjson.loads(line) for line in saved.read_bytes().splitlines()) == by_customer(map(record_from_hash, hashes.values()))
    # next month's run compares with the file and saves over it: the earlier file is read first
    again = deployment.cli("report", "--redis", deployment.redis.url, "--compare", str(saved), "--snapshot-out", str(saved),
                           "--out", str(tmp_path / "again.html"))
    assert again.returncode == 0, again.stderr
    compared = (tmp_path / "again.html").read_text(encoding="utf-8")
    assert set(re.findall(r'data-delta="([^"]*)"', compared)) == {"0"}, "nothing moved between the two reads"
    assert saved.read_bytes().count(b"\n") == len(hashes)
    html = page.read_text(encoding="utf-8")
    hashes, audiences = expected
    assert f'data-customers="{len(hashes)}"' in html
    assert "Customer ids left out" in html
    leaked = [fields["customer_id"] for fields in hashes.values() if f">{fields['customer_id']}<" in html]
    assert not leaked, f"customer ids on the page: {leaked[:3]}"
    lifecycle = {key.rsplit(":", 1)[1]: len(members) for key, members in audiences.items() if ":lifecycle:" in key}
    for value, size in lifecycle.items():
        assert f'data-value="{value}" data-count="{size}"' in html, (value, size)


def by_customer(records) -> list[dict]:
    return sorted(records, key=lambda record: record["customer_id"])


def test_redis_converges_after_an_outage_mid_stream(deployment, tmp_path):
    log, expected = prepare(deployment, tmp_path)
    worker = deployment.start_worker("--clock", "event")
    replay = subprocess.Popen([sys.executable, "-m", "agents.cli", "replay", str(log), "--rate", "2500"],
                              env={**__import__("os").environ, **deployment.env}, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(2)
        deployment.redis.kill()
        time.sleep(4)
        assert worker.alive, worker.tail()
        deployment.redis.start()  # empty: no persistence, as after losing the machine
        assert replay.wait(timeout=120) == 0, replay.stderr.read()
        actual = wait_until_equal(deployment.redis.client(), expected)
        failures = metric_value(worker.metrics() or "", "tagstream_redis_failures_total")
        assert worker.alive, worker.tail()
    finally:
        replay.kill()
        worker.stop()
    assert actual == expected, describe_difference(expected, actual)
    assert failures > 0, "the outage was noticed and counted"


def http_json(url: str) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


@contextmanager
def serving(deployment, tmp_path, customers: int, days: int) -> Iterator[tuple]:
    """A worker that has tagged a replayed generated log, with Redis holding exactly the backtest
    snapshot: (worker, Redis client, expected Redis, the first customer's id). Stopped on exit."""
    log, expected = prepare(deployment, tmp_path, customers=customers, days=days)
    assert deployment.cli("replay", str(log)).returncode == 0
    worker = deployment.start_worker("--clock", "event")
    client = deployment.redis.client()
    try:
        assert wait_until_equal(client, expected) == expected
        yield worker, client, expected, sorted(expected[0])[0][len(CUSTOMER):]
    finally:
        worker.stop()


def test_lookups_and_a_full_rebuild_serve_the_same_profiles(deployment, tmp_path):
    with serving(deployment, tmp_path, customers=120, days=200) as (worker, client, expected, customer_id):
        base = f"http://127.0.0.1:{worker.port}"

        status, body = http_json(f"{base}/customers/{customer_id}")
        assert status == 200 and body["customer_id"] == customer_id
        assert {f"tag:{k}": str(v).lower() if isinstance(v, bool) else str(v) for k, v in body["tags"].items()} == {
            k: v for k, v in expected[0][CUSTOMER + customer_id].items() if k.startswith("tag:")}
        assert http_json(f"{base}/customers/nobody")[0] == 404

        audience = audience_key("lifecycle", expected[0][CUSTOMER + customer_id]["tag:lifecycle"])
        family_value = audience[len(AUDIENCE):].split(":", 1)
        members, cursor = set(), 0
        while True:
            status, page = http_json(f"{base}/audiences/{family_value[0]}/{family_value[1]}?cursor={cursor}&count=25")
            assert status == 200 and page["size"] == len(expected[1][audience])
            members |= set(page["customers"])
            cursor = page["cursor"]
            if cursor == 0:
                break
        assert members == expected[1][audience]

        shown = deployment.cli("lookup", customer_id)
        assert shown.returncode == 0 and f"lifecycle" in shown.stdout and customer_id in shown.stdout
        assert deployment.cli("lookup", "nobody").returncode == 1

        client.flushall()
        rebuilt = deployment.cli("redis-rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert actual_redis(client) == expected
