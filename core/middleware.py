from __future__ import annotations

from django.conf import settings

# No inline script anywhere (htmx and our JS are files under /static/); inline *style attributes*
# are allowed because the Django admin uses them. Websockets go to the same host.
DEFAULT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; "
               "frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


class ContentSecurityPolicyMiddleware:
    """Adds a Content-Security-Policy header to every response that has none."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_CSP)

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
