"""The tagging engine: pure Python, no Kafka, Faust, Redis or Prometheus.

The worker (agents/) and the offline `backtest` both drive the same `PartitionEngine`, so a live run
and a replay of the same log produce the same tag changes with the same ids and timestamps.
"""
