"""HTTP lookups on the worker's web server.

`GET /customers/{id}` is routed by Faust to the worker that processes the customer's partition
(the input topics are co-partitioned, so the orders topic decides) and answers from its engine;
`GET /audiences/{family}/{value}` pages through Redis membership.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

import faust
from redis.asyncio import Redis
from redis.exceptions import RedisError

from agents.serving.profiles import audience_key

MAX_PAGE = 1000
Handler = Callable[..., Awaitable[Any]]


def register_views(app: faust.App, routing_topic: faust.TopicT, record_of: Callable[[str], dict | None],
                   redis: Callable[[], Redis], engine_idle: AbstractAsyncContextManager = nullcontext(),
                   token: str = "") -> None:
    """`record_of`: a customer's snapshot record from the engine's state, None if unknown; read
    once `engine_idle` is entered (agents/engine_thread.py). With a `token`, every lookup needs
    `Authorization: Bearer <token>` (a request routed to another worker carries its headers)."""

    def guarded(handler: Handler) -> Handler:
        """The token is checked first, before a lookup is routed or Redis is asked anything."""

        @functools.wraps(handler)
        async def check(web: Any, request: Any, **match: str) -> Any:
            given = request.headers.get("Authorization", "").encode()
            if token and not hmac.compare_digest(given, f"Bearer {token}".encode()):
                return web.json({"error": "missing or wrong bearer token (Authorization: Bearer TOKEN)"}, status=401,
                                headers={"WWW-Authenticate": 'Bearer realm="tagstream"'})
            return await handler(web, request, **match)

        return check

    @app.page("/customers/{customer_id}")
    @guarded
    @app.topic_route(topic=routing_topic, match_info="customer_id")
    async def customer(web: Any, request: Any, customer_id: str) -> Any:
        async with engine_idle:
            record = record_of(customer_id)
        if record is None:
            return web.json({"error": f"unknown customer {customer_id!r}"}, status=404)
        return web.json(record)

    @app.page("/audiences/{family}/{value}")
    @guarded
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
