"""A receipt chosen on a form that failed validation is kept as a *pending upload*, so the
employee does not attach it again: the file is checked (by content, like every receipt), stored
under a generated name outside the receipts folder, and remembered in the employee's session
under a random token that the re-rendered form carries back. Only the session that uploaded a
file can use its token."""

from __future__ import annotations

import posixpath
import secrets

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from core.errors import DomainError
from expenses.receipts import inspect_receipt

SESSION_KEY = "pending_receipts"
KEEP = 5  # a session keeps at most this many pending uploads (the oldest are dropped)


def keep(request, upload) -> dict | None:
    """Store ``upload`` as pending and return what the form shows ({token, name}); None if the
    file is itself refused (then the form shows that error and nothing is kept)."""
    try:
        info = inspect_receipt(upload)
    except DomainError:
        return None
    token = secrets.token_urlsafe(16)
    upload.seek(0)
    path = default_storage.save(f"pending/{token}.{info.content_type.rsplit('/', 1)[-1]}",
                                ContentFile(upload.read()))
    name = posixpath.basename(str(upload.name or "receipt"))[:100]
    pending = request.session.get(SESSION_KEY, {})
    pending[token] = {"path": path, "name": name}
    for old in list(pending)[:-KEEP]:
        default_storage.delete(pending.pop(old)["path"])
    request.session[SESSION_KEY] = pending
    return {"token": token, "name": name}


def describe(request, token: str | None) -> dict | None:
    entry = request.session.get(SESSION_KEY, {}).get(token or "")
    return {"token": token, "name": entry["name"]} if entry else None


def take(request, token: str | None):
    """The pending file for ``token`` as an upload (None if the token is not this session's)."""
    entry = request.session.get(SESSION_KEY, {}).get(token or "")
    if entry is None or not default_storage.exists(entry["path"]):
        return None
    with default_storage.open(entry["path"], "rb") as stored:
        return ContentFile(stored.read(), name=entry["name"])


def discard(request, token: str | None) -> None:
    pending = request.session.get(SESSION_KEY, {})
    entry = pending.pop(token or "", None)
    if entry is not None:
        default_storage.delete(entry["path"])
        request.session[SESSION_KEY] = pending
