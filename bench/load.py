"""A small async load generator (httpx, keep-alive connections) and latency statistics."""

from __future__ import annotations

import asyncio
import ssl
import statistics
import time
from collections.abc import Callable, Sequence

import httpx


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: Sequence[float]) -> dict:
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99), "mean": statistics.fmean(values) if values else float("nan")}


async def closed_loop(base_url: str, requests: Sequence[tuple[str, dict]], *, concurrency: int,
                      headers: dict[str, str], keyed: bool = False) -> tuple[list[float], list[int]]:
    """POST every (path, json) with ``concurrency`` users; return latencies (ms) and statuses.

    Each user is a client of its own with one keep-alive connection, opened (``GET /healthz``)
    before the clock starts, as ``concurrency`` approvers on their own machines would be. One
    client shared by all (httpx's pool of ``concurrency`` connections, until session 14) queued
    requests inside the pool: at concurrency 32 a slow request's headers went out up to 1.8 s
    after ``post()`` was called, with the server idle for it (its Server-Timing said 20-50 ms,
    and its event loop never lagged 50 ms), and that wait was the reported p99.

    ``keyed``: each POST carries an Idempotency-Key (its path) and is sent again, with the same
    key, when the connection drops before the answer (a keep-alive connection the server closed
    as the request went out), as a real client does; the latency is then the whole wait."""
    queue: asyncio.Queue = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    latencies: list[float] = []
    statuses: list[int] = []
    tls = ssl.create_default_context()  # one for all: httpx builds one per client otherwise (~30 ms)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=60, verify=tls)
               for _ in range(concurrency)]
    try:
        await asyncio.gather(*(client.get("/healthz") for client in clients))  # connect, off the clock

        async def user(client: httpx.AsyncClient) -> None:
            while True:
                try:
                    path, body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                for attempt in range(3 if keyed else 1):
                    try:
                        response = await client.post(path, json=body,
                                                     headers={"Idempotency-Key": path} if keyed else None)
                        break
                    except httpx.TransportError:
                        if attempt == 2 or not keyed:
                            raise
                latencies.append((time.perf_counter() - started) * 1000)
                statuses.append(response.status_code)

        await asyncio.gather(*(user(client) for client in clients))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    return latencies, statuses


async def open_loop(base_url: str, next_request: Callable[[], tuple[str, dict] | None], *, rate: float,
                    duration: float, headers: dict[str, str]) -> tuple[list[float], list[int], int]:
    """Send requests at a steady ``rate`` per second for ``duration`` seconds (bounded)."""
    latencies: list[float] = []
    statuses: list[int] = []
    tasks = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60,
                                 limits=httpx.Limits(max_connections=64)) as client:

        async def one(path: str, body: dict) -> None:
            started = time.perf_counter()
            try:
                response = await client.post(path, json=body)
                statuses.append(response.status_code)
            except httpx.HTTPError:
                statuses.append(0)
            latencies.append((time.perf_counter() - started) * 1000)

        start = time.perf_counter()
        sent = 0
        while (elapsed := time.perf_counter() - start) < duration:
            due = int(elapsed * rate) + 1
            while sent < due:
                item = next_request()
                if item is None:
                    break
                tasks.append(asyncio.create_task(one(*item)))
                sent += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*tasks)
    return latencies, statuses, sent
