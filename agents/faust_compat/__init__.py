"""Every Faust private the worker touches and every workaround of a faust-streaming 0.15.3
behaviour, each in one module with its reason and the test that reproduces it:

- `batch_intake.py`: fetched records to the worker a fetch at a time, bypassing Faust's
  per-record stream path; acked a batch at a time. bench/faust_ceiling.py (stock against batch),
  tests/unit/test_batch_intake.py, the fault suite (tests/faults/).
- `offsets.py`: records a consumer position skips or repeats (`OffsetGuard`), and the fetcher
  draining paused partitions (`fetch_only_active`); tests/faults/test_graceful_restarts.py,
  tests/unit/test_offset_guard.py.
- `in_order.py` + `hole_reader.py`: the skipped records read from Kafka and processed in order;
  tests/integration/test_hole_reader.py.
- `sensor.py`: Faust's Prometheus sensor without its per-message label lookups, fed a fetch at a
  time by the intake; tests/unit/test_faust_sensor.py, tests/integration/test_metrics_exported.py.
- `consumer_state.py`: high-water marks, committed offsets and the running aiokafka producer.

Nothing outside this folder imports a Faust private (`_`-prefixed) name or patches Faust.
"""
