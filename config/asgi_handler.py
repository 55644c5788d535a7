"""Django's ASGI handler with the middleware chain run in one thread hop (issue 24).

Django's own ``ASGIHandler`` builds the middleware chain in async mode. Every middleware
written on ``MiddlewareMixin`` (sessions, CSRF, authentication, messages, common, clickjacking,
security) then runs its ``process_request`` and its ``process_response`` each through its own
``sync_to_async`` (Django's ``MiddlewareMixin.__acall__``), every sync-only middleware puts an
``async_to_sync`` around the rest of the chain, and the sync view gets one more hop: about fifteen
trips between the event loop and the request's thread for one request, each a queue, a wake-up
and a context copy. Outlay's views and middleware are all synchronous, so this handler builds the
chain as WSGI would (``load_middleware(is_async=False)``) and runs the whole of it, view included,
in one ``sync_to_async`` on the request's own thread (``thread_sensitive``, as Django's hops do).
Reading the body, the disconnect watch and sending the response stay on the event loop, as in
Django's handler: only ``get_response_async`` changes.

It also sends what the request committed for the broker and the live hints only once the
response has gone to the client (``core.after_commit.sends_after_the_response``): the approve
request's fan-out message is Outlay's work, not the approver's wait. The sends run when Django
closes the response, before ``request_finished`` gives the database connection back (a broker
failure still marks its rows due). A client that disconnects before its answer leaves the
request's sends unsent; their rows wait for the sweeper, as they would after a broker outage.

A web process runs at most ``WEB_REQUEST_CONCURRENCY`` requests at a time (default 4); the rest
wait on the event loop, first come first served, holding no thread and no database connection.
Django's handler alone starts every request on a thread at once, and on a loaded box they share
the GIL: at concurrency 32 sixteen requests a process each advanced a little at a time, every
one of them slow, and the cost centre's row lock (each approval holds it to its commit) was held
across all that switching. Gated, the requests admitted run nearly at full speed and the wait is
a queue in front of them (``make bench``, issue 24: the approve p99 at concurrency 32 went from
0.97 of the synchronous baseline to 0.42-0.60 in four runs, limits 2 and 4). A request whose
client disconnects keeps its place until its thread has finished (Django cancels the request;
its thread cannot be stopped).

An async view would still work (the sync chain calls it through ``async_to_sync``) but would pay
two hops; Outlay has none, and ``tests/test_asgi_handler.py`` fails if one is added.
"""

from __future__ import annotations

import asyncio
import time
import weakref

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from core.after_commit import sends_after_the_response


class OneHopASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.admission_limit = settings.WEB_REQUEST_CONCURRENCY
        # One gate per event loop (a semaphore binds to the loop it first waits on; a test's
        # async_to_sync runs each call on a loop of its own). uvicorn has one loop per process.
        self._gates: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    def get_response(self, request):
        with sends_after_the_response() as send_held:
            response = super().get_response(request)
        response._resource_closers.append(send_held)  # run by response.close(), after the send
        return response

    async def get_response_async(self, request):
        arrived = time.perf_counter()
        response = await self._admitted(request)
        # Server-Timing (shown in a browser's network panel, read by any client): how long the
        # request waited at the gate and how long it then took, so a queue is told from slow work.
        took = (time.perf_counter() - arrived) * 1000
        waited = getattr(request, "_gate_wait_ms", 0.0)
        response.headers.setdefault("Server-Timing", f"queue;dur={waited:.1f}, app;dur={took - waited:.1f}")
        return response

    async def _admitted(self, request):
        run = sync_to_async(self.get_response, thread_sensitive=True)
        if self.admission_limit <= 0:
            return await run(request)
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.admission_limit)
        arrived = time.perf_counter()
        async with gate:  # first come, first admitted: asyncio's semaphore wakes waiters in order
            request._gate_wait_ms = (time.perf_counter() - arrived) * 1000
            work = asyncio.ensure_future(run(request))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # The client went away (Django cancels the request on its disconnect), but the
                # request's thread runs on to its end: its slot stays taken until it has.
                await asyncio.wait([work])
                raise


def get_asgi_application() -> OneHopASGIHandler:
    """``django.core.asgi.get_asgi_application`` with the one-hop handler."""
    import django

    django.setup(set_prefix=False)
    return OneHopASGIHandler()
