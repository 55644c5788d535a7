"""``Idempotency-Key`` for POST commands (Stripe's model; IETF httpapi idempotency-key draft).

* First request with a key: the key row is committed as *running* (so a concurrent request with
  the same key sees it), then the command runs and the key is completed **in the same
  transaction** as the command's writes. A crash in between rolls both back.
* Same key, same request: the stored status and body are replayed; the command does not run.
* Same key, different request (method, path or body): 422 ``idempotency_key_reused``.
* Same key while the first still runs: 409 ``idempotency_in_progress``. A *running* key older
  than ``IDEMPOTENCY_LOCK_SECONDS`` belongs to a request that died before committing (its
  command rolled back with it), so it may be taken over.
* Keys are per user and kept ``IDEMPOTENCY_TTL_HOURS`` (24 h); beat purges older ones.
* Server errors (5xx) are not stored: the key is released and the client may retry.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils import timezone
from rest_framework.response import Response

from .errors import Conflict, DomainError, ValidationFailed
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    http_status = 422


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"


def _file_digest(upload) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)  # the command reads it next
    return digest.hexdigest()


def request_fingerprint(request) -> str:
    """Method, path, body and, for an upload, each file's name, size and SHA-256 of its bytes:
    the same key with another file under the same name is another request (422), not a replay."""
    files = getattr(request, "FILES", None) or {}
    data = request.data
    if isinstance(data, QueryDict):
        data = {field: values for field, values in data.lists() if field not in files}
    try:
        body = json.dumps(data, sort_keys=True, default=str)
    except (TypeError, ValueError):
        body = repr(data)
    raw = f"{request.method}\n{request.path}\n{body}"
    if files:
        uploads = {field: [[upload.name, upload.size, _file_digest(upload)] for upload in uploads]
                   for field, uploads in files.lists()}
        raw += "\n" + json.dumps(uploads, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def _claim(user, key: str, fingerprint: str, request) -> IdempotencyKey | Response:
    """Insert the key as running, or return what an earlier request with this key decides."""
    now = timezone.now()
    stale = now - timedelta(seconds=getattr(settings, "IDEMPOTENCY_LOCK_SECONDS", 60))
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(user=user, key=key, request_hash=fingerprint,
                                                 method=request.method, path=request.path[:500], locked_at=now)
    except IntegrityError:
        pass
    with transaction.atomic():
        row = IdempotencyKey.objects.select_for_update().get(user=user, key=key)
        if row.request_hash != fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.",
                                       details={"key": key})
        if row.status == IdempotencyKey.Status.COMPLETED:
            response = Response(row.response_body, status=row.response_status)
            response["Idempotent-Replayed"] = "true"
            return response
        if row.locked_at > stale:
            raise IdempotencyInProgress("A request with this Idempotency-Key is still being processed.",
                                        details={"key": key})
        row.locked_at = now  # the earlier request died before committing: take over
        row.save(update_fields=["locked_at"])
        return row


def idempotent(view_method):
    """Wrap a DRF view method (POST command) with Idempotency-Key handling."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ValidationFailed(f"{HEADER} must be 1-{MAX_KEY_LENGTH} printable characters.",
                                   code="invalid_idempotency_key")
        claimed = _claim(request.user, key, request_fingerprint(request), request)
        if isinstance(claimed, Response):
            return claimed
        try:
            with transaction.atomic():
                response = view_method(self, request, *args, **kwargs)
                if response.status_code >= 500:
                    raise _Release(response)
                IdempotencyKey.objects.filter(pk=claimed.pk).update(
                    status=IdempotencyKey.Status.COMPLETED, response_status=response.status_code,
                    response_body=response.data)
                return response
        except _Release as release:
            IdempotencyKey.objects.filter(pk=claimed.pk).delete()
            return release.response
        except DomainError as exc:
            # A refused command is a final answer too: replay it for the same key.
            IdempotencyKey.objects.filter(pk=claimed.pk).update(
                status=IdempotencyKey.Status.COMPLETED, response_status=exc.http_status,
                response_body=exc.as_dict())
            raise
        except Exception:
            IdempotencyKey.objects.filter(pk=claimed.pk).delete()
            raise

    return wrapper


class _Release(Exception):
    def __init__(self, response):
        self.response = response


def purge_expired(now=None) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(hours=getattr(settings, "IDEMPOTENCY_TTL_HOURS", 24))
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
