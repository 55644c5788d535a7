"""Error pages: JSON in the API's one error shape under /api/, styled pages with the navigation
elsewhere, in every mode. Under DEBUG Django answers a 404 with its technical page (every URL
pattern) and a crash with a traceback page; ``ProductErrorPages`` puts the product's pages in
their place, so the demo (which runs with DEBUG) never shows them. Tracebacks still go to the log."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.views import defaults

PRODUCT_PAGE = "_outlay_error_page"


def _api(request) -> bool:
    return request.path.startswith("/api/")


def _mark(response):
    setattr(response, PRODUCT_PAGE, True)
    return response


def not_found(request, exception=None):
    if _api(request):
        return JsonResponse({"code": "not_found", "message": "No such resource.", "details": {}}, status=404)
    return _mark(defaults.page_not_found(request, exception))


def permission_denied(request, exception=None):
    if _api(request):
        return JsonResponse({"code": "permission_denied", "message": "You may not do this.", "details": {}},
                            status=403)
    return _mark(defaults.permission_denied(request, exception))


def server_error(request):
    if _api(request):
        return JsonResponse({"code": "server_error", "message": "Something went wrong on our side.", "details": {}},
                            status=500)
    return _mark(defaults.server_error(request))


class ProductErrorPages:
    """Replaces Django's debug 404 and 500 pages with the product's (the one JSON error shape
    under /api/). Responses already in JSON, or already the product's page, pass untouched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (not settings.DEBUG or getattr(response, PRODUCT_PAGE, False)
                or response.status_code not in (404, 500)
                or not response.get("Content-Type", "").startswith("text/html")):
            return response
        if response.status_code == 404:
            return not_found(request)
        return server_error(request)
