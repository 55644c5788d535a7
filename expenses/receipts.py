"""Receipt uploads: type decided by the file's content (magic bytes), never by its name."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings

from . import errors

SIGNATURES = [
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
]


@dataclass(frozen=True)
class ReceiptInfo:
    content_type: str
    size: int
    sha256: str


def sniff(head: bytes) -> str | None:
    for signature, content_type in SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def inspect_receipt(upload) -> ReceiptInfo:
    """Refuse (``invalid_receipt``) a file that is too large or not a PDF/PNG/JPEG/WebP by content."""
    limit = getattr(settings, "EXPENSE_RECEIPT_MAX_BYTES", 10 * 1024 * 1024)
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise errors.InvalidReceipt(f"The receipt is larger than {limit // (1024 * 1024)} MB.")
    upload.seek(0)
    digest = hashlib.sha256()
    head = b""
    total = 0
    for chunk in upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(65536), b""):
        if not head:
            head = chunk[:16]
        total += len(chunk)
        if total > limit:
            raise errors.InvalidReceipt(f"The receipt is larger than {limit // (1024 * 1024)} MB.")
        digest.update(chunk)
    upload.seek(0)
    content_type = sniff(head)
    if content_type is None:
        raise errors.InvalidReceipt("A receipt must be a PDF, PNG, JPEG or WebP file.")
    if total == 0:
        raise errors.InvalidReceipt("The receipt file is empty.")
    return ReceiptInfo(content_type=content_type, size=total, sha256=digest.hexdigest())
