"""``Idempotency-Key`` for POST commands (Stripe's model; IETF httpapi idempotency-key draft).

* The key is recorded **in the command's own transaction**: one transaction takes a lock on the
  key (a PostgreSQL advisory lock for this user and key, held until commit), runs the command in
  a savepoint and writes the key with the response before it commits. The key and the command's
  writes commit together or not at all, with one commit for both (the key used to be committed as
  *running* in a transaction of its own first: a second commit and three more statements in
  every keyed command, measured with ``bench/profile_approve.py``).
* Same key, same request: the stored status and body are replayed; the command does not run.
* Same key, different request (method, path or body): 422 ``idempotency_key_reused``.
* Same key while the first still runs (it holds the lock): 409 ``idempotency_in_progress``. A
  request that dies before committing leaves nothing behind: its lock and its writes go with it.
* A refused command is a final answer too: its writes are rolled back to the savepoint and the
  refusal is stored for the key, then answered.
* Keys are per user and kept ``IDEMPOTENCY_TTL_HOURS`` (24 h); beat purges older ones.
* Server errors (5xx) are not stored: the transaction is rolled back and the client may retry.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone
from rest_framework.response import Response

from . import prepared
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


def _lock(user, key: str) -> bool:
    """This user's key, locked for the rest of the transaction; False if another request holds it."""
    with prepared.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [f"idempotency:{user.pk}:{key}"])
        return cursor.fetchone()[0]


def _earlier(user, key: str, fingerprint: str) -> Response | None:
    """What an earlier request with this key decided (under the key's lock), or None to run."""
    row = IdempotencyKey.objects.filter(user=user, key=key).first()
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.", details={"key": key})
    if row.status == IdempotencyKey.Status.COMPLETED:
        response = Response(row.response_body, status=row.response_status)
        response["Idempotent-Replayed"] = "true"
        return response
    # A *running* row is from the earlier two-transaction design (written before an upgrade):
    # fresh, its request may still commit; stale, it died, and the key is taken over.
    stale = timezone.now() - timedelta(seconds=getattr(settings, "IDEMPOTENCY_LOCK_SECONDS", 60))
    if row.locked_at > stale:
        raise IdempotencyInProgress("A request with this Idempotency-Key is still being processed.",
                                    details={"key": key})
    row.delete()
    return None


def _record(user, key: str, fingerprint: str, request, status: int, body) -> None:
    IdempotencyKey.objects.create(user=user, key=key, request_hash=fingerprint, method=request.method,
                                  path=request.path[:500], locked_at=timezone.now(),
                                  status=IdempotencyKey.Status.COMPLETED, response_status=status, response_body=body)


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
        fingerprint = request_fingerprint(request)
        refusal = None
        try:
            with transaction.atomic():
                if not _lock(request.user, key):
                    raise IdempotencyInProgress("A request with this Idempotency-Key is still being processed.",
                                                details={"key": key})
                earlier = _earlier(request.user, key, fingerprint)
                if earlier is not None:
                    return earlier
                try:
                    with transaction.atomic():  # a refusal undoes the command's writes, not the key's lock
                        response = view_method(self, request, *args, **kwargs)
                except DomainError as exc:
                    refusal = exc
                    _record(request.user, key, fingerprint, request, exc.http_status, exc.as_dict())
                else:
                    if response.status_code >= 500:
                        raise _Release(response)
                    _record(request.user, key, fingerprint, request, response.status_code, response.data)
                    return response
        except _Release as release:
            return release.response
        raise refusal

    return wrapper


class _Release(Exception):
    def __init__(self, response):
        self.response = response


def purge_expired(now=None) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(hours=getattr(settings, "IDEMPOTENCY_TTL_HOURS", 24))
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
