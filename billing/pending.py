"""The day's chunks no worker has started yet, listed in Redis, so that a worker whose chunk
is down to its last charges takes the next one instead of waiting on them.

A chunk ends when its slowest charge is answered: at a real processor's pace its process has
nothing to send for the last 3-7 s of every chunk (the benchmark saw it, at 400 ms median
latency: a tenth of the day's sending lost). So `billing_run_task` lists the chunks it hands
out (`chunks_hand_out`) beside sending their messages, and a chunk task whose own accounts
are all issued takes the next chunk still listed (`chunk_take`) and issues it on the same
charge threads while its own last charges are still out: a worker process waits on a tail
once, when the day's list is empty, not once a chunk.

The messages stay what the work is made of, and each chunk is done by one task. A chunk's
message takes its chunk off the list when it comes (`chunk_claim`); one whose chunk another
task took has nothing to do. A task records what it takes under its own chunk, in the same
step as it takes it, and a task finds there what it took on an earlier delivery of its
message: a worker that dies leaves its own chunk unacknowledged, delivered again after the
visibility timeout as before, and the task that runs it again runs what it had taken too,
finding done what was done.

Keys are per database (the test suite's and the benchmark's are their own) and per run: a
chunk task takes only from the run its own chunk was handed out with. They expire after two
days. Without Redis (no REDIS_URL, or it cannot be reached) nothing is listed or taken, and
each chunk runs on its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger(__name__)

KEEP_SECONDS = 2 * 24 * 3600


@lru_cache(maxsize=4)
def _redis(url: str) -> Redis:
    import redis

    timeout = float(settings.BROKER_TIMEOUT_SECONDS)
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
    )


def _client() -> Redis | None:
    return _redis(settings.REDIS_URL) if settings.REDIS_URL else None


def _prefix() -> str:
    return f"portal:billing-run:{connection.settings_dict['NAME']}"


def chunk_key(account_ids: Sequence[int], day: str) -> str:
    """What names a chunk: its day and its accounts (its message holds nothing else)."""
    return hashlib.sha256(json.dumps([day, list(account_ids)]).encode()).hexdigest()[:32]


# KEYS: the run's pending list, its hash of who took what, the taker's list of what it took;
# ARGV: the taker's own chunk, how long the keys are kept. The next pending chunk, moved to
# the taker's list and noted as its, in one step; false when none is left.
TAKE = """
local key = redis.call('LPOP', KEYS[1])
if not key then
  return false
end
redis.call('HSET', KEYS[2], key, ARGV[1])
redis.call('RPUSH', KEYS[3], key)
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return key
"""


@dataclass(frozen=True)
class Claim:
    """A chunk whose message has come: the run it was handed out with, whether another
    task took it (nothing is left to do), and what its own task took on an earlier delivery
    (to be run again)."""

    run: str
    key: str
    taken: bool
    earlier: list[list[int]]


def chunks_hand_out(day: str, chunks: Sequence[Sequence[int]]) -> str | None:
    """List a run's chunks (before their messages are sent); the run's id, or None when
    Redis cannot list them (the chunks then run each on its own)."""
    client = _client()
    if client is None or not chunks:
        return None
    import redis

    run = uuid.uuid4().hex[:16]
    prefix = _prefix()
    keys = [chunk_key(chunk, day) for chunk in chunks]
    try:
        pipe = client.pipeline(transaction=True)
        pipe.hset(f"{prefix}:{day}:runs", mapping=dict.fromkeys(keys, run))
        pipe.hset(
            f"{prefix}:{run}:chunks",
            mapping={key: json.dumps(list(chunk)) for key, chunk in zip(keys, chunks, strict=True)},
        )
        pipe.rpush(f"{prefix}:{run}:pending", *keys)
        for name in (f"{day}:runs", f"{run}:chunks", f"{run}:pending"):
            pipe.expire(f"{prefix}:{name}", KEEP_SECONDS)
        pipe.execute()
    except redis.RedisError as error:
        logger.warning("The billing run's chunks cannot be listed (%s): each runs alone.", error)
        return None
    return run


def chunk_claim(account_ids: Sequence[int], day: str) -> Claim | None:
    """Take a chunk whose message has come off its run's list. None when it was never
    listed (sent on its own, or by a release before this one) or Redis cannot say."""
    client = _client()
    if client is None:
        return None
    import redis

    prefix = _prefix()
    key = chunk_key(account_ids, day)
    try:
        found = client.hget(f"{prefix}:{day}:runs", key)
        if found is None:
            return None
        run = str(found)
        removed = client.lrem(f"{prefix}:{run}:pending", 0, key)
        taker = None if removed else client.hget(f"{prefix}:{run}:taker", key)
        earlier = []
        for taken in client.lrange(f"{prefix}:{run}:taken:{key}", 0, -1):
            ids = client.hget(f"{prefix}:{run}:chunks", str(taken))
            if ids is not None:
                earlier.append([int(a) for a in json.loads(str(ids))])
    except redis.RedisError as error:
        logger.warning("The billing run's list of chunks cannot be read (%s).", error)
        return None
    return Claim(run=run, key=key, taken=taker not in (None, key), earlier=earlier)


def chunk_take(claim: Claim) -> list[int] | None:
    """The accounts of the next chunk of the claim's run that no task has started, taken off
    the list and noted as taken by the claim's chunk; None when none is left (or Redis
    cannot say)."""
    client = _client()
    if client is None:
        return None
    import redis

    prefix = f"{_prefix()}:{claim.run}"
    try:
        while (
            key := client.eval(
                TAKE,
                3,
                f"{prefix}:pending",
                f"{prefix}:taker",
                f"{prefix}:taken:{claim.key}",
                claim.key,
                KEEP_SECONDS,
            )
        ) is not None:
            ids = client.hget(f"{prefix}:chunks", str(key))
            if ids is not None:
                return [int(a) for a in json.loads(str(ids))]
    except redis.RedisError as error:
        logger.warning("No chunk can be taken from the billing run's list (%s).", error)
    return None


def chunk_finished(claim: Claim) -> None:
    """The claim's task ran its chunk and what it took: a later delivery of its message
    (the same chunk run twice) has none of them to run again."""
    client = _client()
    if client is None:
        return
    import redis

    try:
        client.delete(f"{_prefix()}:{claim.run}:taken:{claim.key}")
    except redis.RedisError as error:
        logger.warning("The billing run's list of chunks cannot be written (%s).", error)
