"""HTTP lookups on the worker's web server.

`GET /customers/{id}` is routed by Faust to the worker that owns the customer's partition and
answers from live table state; `GET /audiences/{family}/{value}` pages through Redis membership.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
from redis.asyncio import Redis
from redis.exceptions import RedisError

from agents.serving.profiles import audience_key
from agents.table_store import TableStore
from stream.record import customer_record
from stream.rules.ruleset import RuleSet

MAX_PAGE = 1000


def register_views(app: faust.App, table: Any, store: TableStore, rules: RuleSet, redis: Callable[[], Redis]) -> None:
    @app.page("/customers/{customer_id}")
    @app.table_route(table=table, match_info="customer_id")
    async def customer(web: Any, request: Any, customer_id: str) -> Any:
        state = store.current(customer_id)
        if state is None:
            return web.json({"error": f"unknown customer {customer_id!r}"}, status=404)
        return web.json(customer_record(rules, customer_id, state, state.clock or 0))

    @app.page("/audiences/{family}/{value}")
    async def audience(web: Any, request: Any, family: str, value: str) -> Any:
        try:
            cursor = int(request.query.get("cursor", 0))
            count = min(int(request.query.get("count", 100)), MAX_PAGE)
        except ValueError:
            return web.json({"error": "cursor and count must be whole numbers"}, status=400)
        key = audience_key(family, value)
        try:
            client = redis()
            next_cursor, members = await client.sscan(key, cursor=cursor, count=count)
            size = await client.scard(key)
        except (RedisError, OSError) as error:
            return web.json({"error": f"Redis unavailable: {error}"}, status=503)
        return web.json({
            "family": family, "value": value, "size": size, "cursor": int(next_cursor),
            "customers": sorted(m.decode() if isinstance(m, bytes) else m for m in members),
        })
