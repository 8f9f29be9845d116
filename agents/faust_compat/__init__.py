"""Every Faust private the worker touches and every workaround of a faust-streaming 0.15.3
behaviour, each in one module with its reason and the test that reproduces it:

- `offsets.py`: records Faust skips and acks unprocessed at a start or rebalance (`OffsetGuard`,
  `AckGate`, `fetch_only_active`, `dropped_by_clear`); tests/faults/test_graceful_restarts.py,
  tests/unit/test_offset_guard.py.
- `in_order.py` + `hole_reader.py`: the skipped records read from Kafka and processed in order;
  tests/integration/test_hole_reader.py.
- `flow_control.py`: records a flow-control resume throws away are read again; the recovery bench
  and tests/faults/test_graceful_restarts.py.
- `sensor.py`: Faust's Prometheus sensor without its per-message label lookups;
  tests/unit/test_faust_sensor.py.
- `intake.py`: Faust's per-record delivery and per-record turn of the event loop made cheap;
  bench/faust_ceiling.py, tests/unit/test_faust_intake.py.
- `consumer_state.py`: high-water marks, committed offsets and the running aiokafka producer.

Nothing outside this folder imports a Faust private (`_`-prefixed) name or patches Faust.
"""
