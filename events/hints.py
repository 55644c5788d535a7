"""Lossy live hints to open pages ("this changed, re-read"), sent off the caller's thread.

``async_to_sync(layer.group_send)`` from a worker builds a new event loop for every call, and
the Redis pub/sub channel layer keeps its Redis connection per loop, so every hint paid for a
new loop and a new Redis connection: about a quarter of a delivery's time in the profile of
issue 9. Here each process keeps one loop in a daemon thread (one layer, one connection) and a
hint is queued on it and forgotten. A hint is never needed for correctness (the page re-reads
over HTTP and polls), so one that is lost with its process, or refused by a dead Redis, is fine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None


def _hint_loop() -> asyncio.AbstractEventLoop:
    """This process's hint loop, started on first use (and again in a forked child: a loop
    thread does not survive fork)."""
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="live-hints", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


async def _send(group: str, message: dict) -> None:
    from channels.layers import get_channel_layer

    try:
        layer = get_channel_layer()
        if layer is not None:
            await layer.group_send(group, message)
    except Exception:
        logger.debug("hint to %s not pushed", group, exc_info=True)


def aggregate_group(aggregate_type: str, aggregate_id: str) -> str:
    """The channel-layer group that hears about an aggregate's deliveries."""
    return f"{aggregate_type}.{aggregate_id}".replace(":", "-")[:99]


def push_hint_rollback_unsafe(group: str, message: dict) -> None:
    """Queue ``group_send(group, message)`` on this process's hint loop now; return at once, never
    raise. Sends whether or not the caller's transaction commits: inside one, use
    ``core.after_commit.send_on_commit(push_hint_rollback_unsafe, group, message)``."""
    push_hints_rollback_unsafe([(group, message)])


async def _send_all(hints: list[tuple[str, dict]]) -> None:
    for group, message in hints:
        await _send(group, message)


def push_hints_rollback_unsafe(hints: list[tuple[str, dict]]) -> None:
    """``push_hint_rollback_unsafe`` for several (group, message) pairs, in one hop to the hint
    loop (a batch of deliveries: one wake-up of the loop's thread instead of one per delivery)."""
    if not hints:
        return
    try:
        asyncio.run_coroutine_threadsafe(_send_all(hints), _hint_loop())
    except Exception:
        logger.debug("%d hints not queued", len(hints), exc_info=True)
