"""The card processor's rate limit, shared by every worker on every host: a token bucket in
Redis (GATEWAY_MAX_REQUESTS_PER_SECOND for each gateway), taken and refilled atomically by
one Lua script on Redis's own clock, so that hosts whose clocks drift still share one limit.

The bucket holds a single token, refilled at the limit's rate, and a caller reserves the next
token (the generic cell rate algorithm, a token bucket's exact equivalent: one round trip to
Redis for each call, however many wait): calls are spaced 1/rate apart, so no second (from
any instant) sees more than the limit, however many workers ask at once. No burst is allowed:
the processor counts every second. The rate is the limit less GATEWAY_RATE_LIMIT_HEADROOM
(5%): a call leaves when its thread wakes after its turn, and reaches the processor after the
network, both a little late and not always by the same time, so that turns exactly 1/limit
apart could still arrive more than the limit within one second (the benchmark saw 81 at 80).
And a thread on a busy machine can wake up long after its turn (89 in one second were seen
with both cores taken): a caller that wakes later than `late_tolerance` after its turn gives
that turn up and takes the next, so that late calls never bunch with those on time.

Fail closed: a call that cannot get its turn (Redis down, or the limit's queue longer than
GATEWAY_RATE_LIMIT_WAIT_SECONDS) is not made. `gateway_turn` raises GatewayUnavailable, which
the gateway facade maps as for any call that never reached the gateway (`gateway.gateway_call`:
a retryable failure, or an attempt left for the settler), so nothing is charged twice and
nothing recorded is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings

from .gateways.base import GatewayUnavailable

if TYPE_CHECKING:
    from redis import Redis
    from redis.commands.core import AsyncScript, Script

logger = logging.getLogger(__name__)

# KEYS[1]: the bucket (the moment its next token is there, on Redis's clock); ARGV[1]: the
# rate (tokens a second); ARGV[2]: the longest wait the caller accepts. The caller's turn is
# reserved (the bucket's next token moves on by 1/rate) and the seconds until it returned;
# "-1", reserving nothing, when it is further away than the caller waits. Strings both ways:
# Lua numbers lose their fraction on the way out.
RESERVE_TURN = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local rate = tonumber(ARGV[1])
local longest = tonumber(ARGV[2])
local next_token = tonumber(redis.call('GET', KEYS[1]) or '0')
local turn = math.max(next_token, now)
local wait = turn - now
if wait > longest then
  return '-1'
end
local after = turn + 1 / rate
local keep = math.ceil((after - now) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', after), 'PX', keep)
return string.format('%.6f', wait)
"""

# Between two asks while Redis cannot be reached.
_REDIS_RETRY_SECONDS = 0.5

_waiting = 0
_waiting_lock = threading.Lock()
# Turns this process gave up because its thread woke too late to use them (for the tests).
late_turns_given_up = 0


def calls_waiting() -> int:
    """How many gateway calls of this process wait for their turn now (for the metrics)."""
    return _waiting


def late_tolerance(headroom: float) -> float:
    """How late after its turn a call may still leave, in seconds. Turns are at least 1/rate
    apart at rate = (1 - headroom) x limit, so calls that each reach the processor at most
    `t` after their turns put at most ceil((1 + t) x rate) of them in any second: within the
    limit while t < headroom / (1 - headroom), 53 ms at 5%, whatever the limit. Half of that
    is for waking up; the other half is left for the way from here to the processor (a
    thread waiting for the interpreter, the network)."""
    return headroom / (1 - headroom) / 2


@lru_cache(maxsize=4)
def _script(url: str) -> Script | AsyncScript:
    import redis

    client: Redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client.register_script(RESERVE_TURN)


def bucket_key(gateway: str) -> str:
    return f"portal:gateway-rate:{gateway}"


def gateway_turn(*, gateway: str) -> float:
    """Wait until `gateway` may be called under GATEWAY_MAX_REQUESTS_PER_SECOND (at once when
    there is no limit); the seconds waited. Raises GatewayUnavailable when the turn does not
    come within GATEWAY_RATE_LIMIT_WAIT_SECONDS (Redis down included): the call must not be
    made."""
    limit = float(settings.GATEWAY_MAX_REQUESTS_PER_SECOND)
    if limit <= 0:
        return 0.0
    headroom = float(settings.GATEWAY_RATE_LIMIT_HEADROOM)
    rate = limit * (1 - headroom)
    tolerance = late_tolerance(headroom)
    import redis

    global _waiting, late_turns_given_up
    started = time.monotonic()
    deadline = started + float(settings.GATEWAY_RATE_LIMIT_WAIT_SECONDS)
    script = _script(settings.REDIS_URL)
    with _waiting_lock:
        _waiting += 1
    try:
        while True:
            asked = time.monotonic()
            left = deadline - asked
            try:
                answer = script(
                    keys=[bucket_key(gateway)], args=[repr(rate), f"{max(left, 0):.6f}"]
                )
                wait = float(answer)  # type: ignore[arg-type]
            except redis.RedisError as error:
                # Without the shared bucket nobody knows whose turn it is: wait for Redis.
                logger.warning("The gateway's rate limit cannot be asked (%s); waiting.", error)
                if left <= _REDIS_RETRY_SECONDS:
                    raise GatewayUnavailable(
                        f"The rate limit of {limit:g} requests/s could not be asked for "
                        f"{settings.GATEWAY_RATE_LIMIT_WAIT_SECONDS:g} s; not sent."
                    ) from error
                time.sleep(_REDIS_RETRY_SECONDS)
                continue
            if wait < 0:
                raise GatewayUnavailable(
                    f"No turn under the rate limit of {limit:g} requests/s within "
                    f"{settings.GATEWAY_RATE_LIMIT_WAIT_SECONDS:g} s; not sent."
                )
            # Counted from before the ask: a reply read late is part of being late.
            turn = asked + wait
            time.sleep(wait)
            if time.monotonic() - turn <= tolerance:
                return time.monotonic() - started
            # Woken too late (a busy machine): going now could bunch with the calls whose
            # turns came since. This turn is given up, and the next one taken, if it comes
            # within the wait allowed.
            with _waiting_lock:
                late_turns_given_up += 1
            if time.monotonic() >= deadline:
                raise GatewayUnavailable(
                    f"No turn under the rate limit of {limit:g} requests/s could be taken in "
                    f"time within {settings.GATEWAY_RATE_LIMIT_WAIT_SECONDS:g} s; not sent."
                )
    finally:
        with _waiting_lock:
            _waiting -= 1
