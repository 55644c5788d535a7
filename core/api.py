"""One error shape for the whole API: ``{"code", "message", "details"}`` with the right status.

Domain errors carry their own code and status; DRF's and Django's exceptions are mapped here,
so a client never sees another shape, and bad input never becomes a 500.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError, ValidationFailed

_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid",
}


def error_body(code: str, message: str, details=None) -> dict:
    return {"code": code, "message": message, "details": details or {}}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.http_status)
    if isinstance(exc, DatabaseOperationalError | DatabaseInterfaceError):
        # The database is unreachable (restart, failover). The command and its Idempotency-Key commit
        # together, so a retry with the same key is safe whether or not the commit got through.
        response = Response(error_body("service_unavailable", "The database is unavailable. Retry shortly with the "
                                       "same Idempotency-Key; the command will not run twice."),
                            status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response["Retry-After"] = "2"
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: let Django log it and answer 500
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body(code, "The request is not valid.", details)
    else:
        details = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            details["retry_after_seconds"] = int(exc.wait)
        response.data = error_body(code, str(exc.detail), details)
    return response


ERROR_STATUSES = {
    status.HTTP_400_BAD_REQUEST: "Invalid input",
    status.HTTP_401_UNAUTHORIZED: "Not authenticated",
    status.HTTP_403_FORBIDDEN: "Not allowed for your role",
    status.HTTP_404_NOT_FOUND: "Not found (also for other organisations' objects)",
    status.HTTP_409_CONFLICT: "State conflict, insufficient budget or concurrent change",
    status.HTTP_422_UNPROCESSABLE_ENTITY: "Idempotency-Key reused with a different request",
    status.HTTP_429_TOO_MANY_REQUESTS: "Throttled",
    status.HTTP_503_SERVICE_UNAVAILABLE: "Database unavailable; retry with the same Idempotency-Key",
}


class StrictCursorPagination(CursorPagination):
    """Stable pages however many rows arrive meanwhile (no OFFSET). A cursor the API did not give
    out is bad input (400 ``invalid_cursor``), not a missing resource (DRF answers 404)."""

    INVALID = "The cursor is not one this API gave out; use the next/previous links."

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise ValidationFailed(self.INVALID, code="invalid_cursor") from None
        if cursor is not None and cursor.position is not None:
            # The position goes straight into a filter on the ordering field: a forged one
            # ("p=2026" on a timestamp) would fail there, as a server error.
            field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
            try:
                field.to_python(cursor.position)
            except (DjangoValidationError, ValueError, TypeError, OverflowError):
                raise ValidationFailed(self.INVALID, code="invalid_cursor") from None
        return cursor


class DefaultCursorPagination(StrictCursorPagination):
    """Newest first, 50 a page (``page_size`` up to 200)."""

    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    ordering = "-created_at"


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    code = serializers.CharField(help_text="Stable machine-readable code, e.g. insufficient_budget.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    details = serializers.DictField(help_text="Extra facts, e.g. the remaining budget or field errors.")


def error_responses(*statuses: int) -> dict:
    """OpenAPI responses for the given error statuses, all with the error shape."""
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_STATUSES[code]) for code in statuses}


IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    # What core.idempotency accepts (1-255 printable characters), narrowed to visible ASCII, the
    # portable subset of header values; anything else is a 400 invalid_idempotency_key.
    name="Idempotency-Key", type={"type": "string", "minLength": 1, "maxLength": 255},
    pattern=r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$", location=OpenApiParameter.HEADER, required=False,
    description="Makes the POST safe to retry: the same key and body replay the first response (24 h); "
                "the same key with another body is refused with 422; while the first still runs, 409.")


def document_common_errors(result, generator, request, public):
    """drf-spectacular post-processing: every operation documents the errors any endpoint can
    give (400 bad input, 401, 403, 429; 404 when the path names an object), in the error shape."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        if path in spectacular_settings.APPEND_PATHS:
            continue  # documented by hand, completely (a plain Django view such as health)
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            codes = [400, 401, 403, 429] + ([404] if "{" in path else [])
            for code in codes:
                responses.setdefault(str(code), {"description": ERROR_STATUSES[code], "content": error})
    return result
