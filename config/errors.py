"""Error pages: JSON in the API's one error shape under /api/, HTML elsewhere."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.views import defaults

from core.body_limit import too_large_body


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "message": "No such resource.", "details": {}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "server_error", "message": "Something went wrong on our side.", "details": {}},
                            status=500)
    return defaults.server_error(request)


def bad_request(request, exception=None):
    """Django's own refusals (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields, a bad host):
    413 for a body too large, else 400; in the error shape under /api/."""
    if isinstance(exception, RequestDataTooBig):
        return HttpResponse(too_large_body(settings.DATA_UPLOAD_MAX_MEMORY_SIZE), status=413,
                            content_type="application/json")
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "bad_request", "message": "The request is not valid.", "details": {}},
                            status=400)
    return defaults.bad_request(request, exception)
