"""The tagging engine, with no Kafka, Faust, Redis or Prometheus imports.

The per-event work runs in the compiled core (`stream._native`, Rust, `native/`), the one engine
both the worker (agents/driver.py) and the offline commands (`stream.backtest`) drive, so a live
run and a replay of the same log agree. The Python here loads and checks rule packs
(`stream.rules`) into the plan the core runs, reads logs, and orders them by event time.
"""
