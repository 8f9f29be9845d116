"""Kafka's default key partitioner: backtest must put each customer where the worker finds it.

Expected values come from Kafka's Java `Utils.murmur2` test vectors and from kafka-python 3.0.12's
`kafka.partitioner.default.murmur2` (computed once and hardcoded, so kafka-python is not needed).
"""

from __future__ import annotations

import pytest

from stream.partitioner import murmur2, partition_for

# key -> signed 32-bit murmur2, as org.apache.kafka.common.utils.Utils.murmur2 returns it
MURMUR2 = [
    ("21", -973932308),
    ("foobar", -790332482),
    ("a-little-bit-long-string", -985981536),
    ("a-little-bit-longer-string", -1486304829),
    ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    ("abc", 479470107),
    ("", 275646681),
    ("x", 2121525046),
    ("ab", 316155434),
    ("c1", 2069367011),
    ("c42", -711672932),
    ("customer-000123", 144427245),
    ("ü-kunde", -1823982910),  # UTF-8 bytes, not code points
]

# key -> partition for 1, 3, 8, 12 and 32 partitions
PARTITIONS = [
    ("21", (0, 0, 4, 0, 12)),
    ("foobar", (0, 0, 6, 6, 30)),
    ("a-little-bit-long-string", (0, 2, 0, 8, 0)),
    ("a-little-bit-longer-string", (0, 2, 3, 11, 3)),
    ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", (0, 2, 5, 5, 13)),
    ("abc", (0, 0, 3, 3, 27)),
    ("", (0, 0, 1, 9, 25)),
    ("x", (0, 1, 6, 10, 22)),
    ("ab", (0, 2, 2, 2, 10)),
    ("c1", (0, 2, 3, 11, 3)),
    ("c42", (0, 0, 4, 0, 28)),
    ("customer-000123", (0, 0, 5, 9, 13)),
    ("ü-kunde", (0, 1, 2, 10, 2)),
]


def test_c42_lands_in_partition_4_of_8():
    assert partition_for("c42", 8) == 4


@pytest.mark.parametrize("key, expected", MURMUR2)
def test_murmur2_matches_kafka(key, expected):
    assert murmur2(key.encode()) == expected


@pytest.mark.parametrize("key, expected", PARTITIONS)
def test_partition_for_matches_kafka_default_partitioner(key, expected):
    assert tuple(partition_for(key, n) for n in (1, 3, 8, 12, 32)) == expected


@pytest.mark.parametrize("length", range(0, 9))
def test_murmur2_is_a_signed_32_bit_int_for_every_tail_length(length):
    value = murmur2(bytes(range(200, 200 + length)))
    assert -(2**31) <= value < 2**31


def test_agrees_with_kafka_python_when_installed():
    kafka = pytest.importorskip("kafka.partitioner.default")
    keys = [f"customer-{n}" for n in range(300)] + [key for key, _ in MURMUR2]
    for key in keys:
        data = key.encode()
        theirs = kafka.murmur2(data) & 0xFFFFFFFF  # some versions return it unsigned
        assert murmur2(data) == (theirs ^ 0x80000000) - 0x80000000
        assert partition_for(key, 12) == (kafka.murmur2(data) & 0x7FFFFFFF) % 12
