"""The tagging engine, with no Kafka, Faust, Redis or Prometheus imports.

Offline (`backtest`, `whatif`) the per-event work runs in the compiled core (`stream._native`,
Rust, `native/`), driven from `stream.backtest`; the worker (agents/) still drives the Python
`PartitionEngine` of `stream.engine` until issue #15 moves it. A differential test holds the two to
the same tag changes, ids, timestamps and snapshots, so a live run and a replay of the same log agree.
"""
