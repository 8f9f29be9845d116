"""Kafka's default key partitioner, so `backtest` puts each customer where the worker finds it.

Both aiokafka and kafka-python place a keyed record at `murmur2(key) & 0x7fffffff % partitions`;
the offline engine uses the same function to simulate per-partition watermarks exactly, and the
worker to place its tag changes. Computed by the compiled core (native/src/partitioner.rs).
"""

from __future__ import annotations

from stream.native import murmur2, partition_of_key

__all__ = ["murmur2", "partition_for", "partition_of_key"]


def partition_for(customer_id: str, partitions: int) -> int:
    """The partition a record keyed by `customer_id` (raw UTF-8) lands in."""
    return partition_of_key(customer_id.encode(), partitions)
