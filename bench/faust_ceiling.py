"""Faust's own ceiling: what a Faust agent reaches on the worker's input topics doing no work.

The agent reads raw bytes (no codec), in batches of the worker's size and wait (`take_events` with
`TAGSTREAM_BATCH_SIZE` and `TAGSTREAM_BATCH_WAIT`, the worker's settings), and does nothing with them (`FAUST_CEILING=bare`) or writes one table entry per key per
batch (`FAUST_CEILING=table`: the shape of a per-customer state write). `FAUST_INTAKE=tagstream`
installs the worker's intake (agents/faust_compat/intake.py), `stock` leaves Faust as it is: the
two side by side show what the intake changes. Measured like the worker, by its group's committed
offsets (bench/e2e.py).

Run as a worker: `python -m bench.faust_ceiling worker -l warn` with the TAGSTREAM_* variables
of `bench.common.Deployment.group_env`.
"""

from __future__ import annotations

import os

import faust

from config.settings import load_settings

BROKER = os.environ.get("TAGSTREAM_KAFKA_BROKER", "127.0.0.1:19092")
APP_ID = os.environ.get("TAGSTREAM_APP_ID", "bench-ceiling")
PARTITIONS = int(os.environ.get("TAGSTREAM_PARTITIONS", "8"))
TOPICS = [os.environ.get(f"TAGSTREAM_TOPIC_{name}", default)
          for name, default in (("ORDERS", "orders"), ("EMAIL_OPENS", "email-opens"), ("CLICKS", "clicks"), ("VISITS", "visits"))]
MODE = os.environ.get("FAUST_CEILING", "bare")
INTAKE = os.environ.get("FAUST_INTAKE", "tagstream")
SETTINGS = load_settings()  # the worker's batch size and wait
RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}

app = faust.App(
    APP_ID,
    broker=f"kafka://{BROKER}",
    store="memory://",
    datadir=os.environ.get("TAGSTREAM_DATA_DIR", f".local/bench/{APP_ID}"),
    topic_partitions=PARTITIONS,
    web_port=int(os.environ.get("TAGSTREAM_WEB_PORT", "6068")),
    web_bind="127.0.0.1",
    web_host="127.0.0.1",
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=0.5,  # as the worker's
    stream_buffer_maxsize=4096,  # as the worker's
)
source = app.topic(*TOPICS, partitions=PARTITIONS, **RAW)
table = app.Table("latest", default=None, partitions=PARTITIONS, key_type=bytes, value_type=bytes, use_partitioner=True)


@app.agent(source)
async def consume(stream: faust.StreamT) -> None:
    if INTAKE == "tagstream":
        from agents.faust_compat.intake import install

        install(app.consumer)
    async for batch in stream.take_events(SETTINGS.batch_size, within=SETTINGS.batch_wait):
        if MODE == "table":
            latest = {event.key: event.value for event in batch}
            for key, value in latest.items():
                table[key] = value


if __name__ == "__main__":
    app.main()
