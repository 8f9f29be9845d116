"""The naive baseline: how a first Faust app for this problem usually looks.

Values are decoded into `faust.Record`s by Faust's JSON codec, and a hopping windowed table
(30-day windows stepping by one day, relative to the record timestamp, which `tagstream replay`
sets to the send time) counts events per customer: every event updates the 30 windows it falls
in, each a changelog write. No rules, no deadlines, no outputs: this is the floor of "Faust + windowed table".
Its work is done when the changelog holds 30 records per event (Faust commits input offsets
before its buffered changelog writes are sent, so committed offsets alone would flatter it).

Run as a worker: `python -m bench.naive_faust worker -l warning` with the TAGSTREAM_* variables
of `bench.common.Deployment.group_env` (broker, app id, input topics, web port, data directory).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import faust

from bench.common import NAIVE_WINDOW_DAYS as WINDOW_DAYS  # windows per event: changelog records per event

BROKER = os.environ.get("TAGSTREAM_KAFKA_BROKER", "127.0.0.1:19092")
APP_ID = os.environ.get("TAGSTREAM_APP_ID", "bench-naive")
PARTITIONS = int(os.environ.get("TAGSTREAM_PARTITIONS", "8"))
TOPICS = [os.environ.get(f"TAGSTREAM_TOPIC_{name}", default)
          for name, default in (("ORDERS", "orders"), ("EMAIL_OPENS", "email-opens"), ("CLICKS", "clicks"), ("VISITS", "visits"))]


class Item(faust.Record, serializer="json"):
    sku: str
    category: str
    qty: int
    price: float


class CustomerEvent(faust.Record, serializer="json"):
    event_id: str
    type: str
    customer_id: str
    ts: Any
    amount: float | None = None
    currency: str | None = None
    items: list[Item] | None = None
    channel: str | None = None
    coupon: str | None = None
    campaign_id: str | None = None
    url: str | None = None
    page: str | None = None
    source: str | None = None


app = faust.App(
    APP_ID,
    broker=f"kafka://{BROKER}",
    store="memory://",
    datadir=os.environ.get("TAGSTREAM_DATA_DIR", f".local/bench/{APP_ID}"),
    topic_partitions=PARTITIONS,
    web_port=int(os.environ.get("TAGSTREAM_WEB_PORT", "6067")),
    web_bind="127.0.0.1",
    web_host="127.0.0.1",
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=0.5,  # as tagstream's, so both are measured the same way
)
events = app.topic(*TOPICS, key_type=str, value_type=CustomerEvent, partitions=PARTITIONS)
counts = (
    app.Table("counts", default=int, partitions=PARTITIONS)
    .hopping(timedelta(days=WINDOW_DAYS), timedelta(days=1))  # no expiry: no tombstones in the count
    .relative_to_stream()
)


@app.agent(events)
async def count_events(stream: faust.StreamT) -> None:
    async for event in stream:
        counts[event.customer_id] += 1


if __name__ == "__main__":
    app.main()
