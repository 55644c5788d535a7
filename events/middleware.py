from __future__ import annotations

from core.client_ip import client_ip

from .context import TraceContext, clean_request_id, tracing


class CorrelationIdMiddleware:
    """One correlation id per request: the caller's ``X-Request-ID`` or a new one, echoed back.

    Every event published while handling the request carries it, and so does every event that
    its subscribers publish in turn.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        ctx = TraceContext(
            correlation_id=clean_request_id(request.headers.get("X-Request-ID")),
            origin={"ip": client_ip(request), "user_agent": request.headers.get("User-Agent", "")[:300]},
        )
        request.correlation_id = ctx.correlation_id
        with tracing(ctx):
            response = self.get_response(request)
        response["X-Request-ID"] = ctx.correlation_id
        return response
