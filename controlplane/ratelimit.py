"""How many containers a user may create a minute, counted across every API process in Redis.

A fixed window: one counter a user a minute (`controlplane.rate.create.<user id>.<minute>`),
incremented by every create and kept two minutes, so every API process and host shares it at
the cost of one round trip. A refused create counts too, so a client that keeps hammering stays
refused until the minute turns. When Redis cannot be reached the create is let through and the
miss logged: the broker being away must not stop users from recording containers, which need no
node until they are started.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from controlplane.core.errors import RateLimitedError

log = logging.getLogger(__name__)

KEY_PREFIX = "controlplane.rate.create."
WINDOW_SECONDS = 60


class CreateRate:
    def __init__(
        self, client: redis.Redis, per_minute: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self.per_minute = per_minute
        self._clock = clock

    def take(self, owner_id: int) -> None:
        """Count one create of `owner_id`.

        Raises:
            RateLimitedError: the user made `per_minute` creates already this minute.
        """
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        key = f"{KEY_PREFIX}{owner_id}.{window}"
        try:
            pipeline = self._client.pipeline()
            pipeline.incr(key)
            pipeline.expire(key, 2 * WINDOW_SECONDS)
            count, _ = pipeline.execute()
        except redis.RedisError as exc:
            log.warning("create of user %s not counted against its rate: %s", owner_id, exc)
            return
        if count > self.per_minute:
            retry_after = WINDOW_SECONDS - int(now % WINDOW_SECONDS)
            raise RateLimitedError(limit=self.per_minute, retry_after=retry_after)
