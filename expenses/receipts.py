"""Receipt uploads: type decided by the file's content (magic bytes), never by its name.

The name is only checked against the content: a file whose name claims one type while its bytes
are another (``receipt.png`` that is a PDF, an HTML page or a polyglot) is refused, not silently
re-typed. The name never reaches the disk (``expenses.models.receipt_path``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from core.after_commit import send_on_commit

from . import errors

SIGNATURES = [
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
]


# What a file name may end with, per content type. A name without an extension is typed by its
# content alone; a name with any other extension (.html, .svg, .exe ...) is refused.
EXTENSIONS = {
    "application/pdf": {"pdf"},
    "image/png": {"png"},
    "image/jpeg": {"jpg", "jpeg", "jpe", "jfif"},
    "image/webp": {"webp"},
}


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
    name = posixpath.basename(str(getattr(upload, "name", "") or "").replace("\\", "/"))
    extension = name.rsplit(".", 1)[-1].lower() if "." in name.strip(".") else ""
    if extension and extension not in EXTENSIONS[content_type]:
        raise errors.InvalidReceipt(f"The file is named .{extension[:10]} but its content is "
                                    f"{content_type.split('/')[-1].upper()}: rename it or upload the right file.")
    return ReceiptInfo(content_type=content_type, size=total, sha256=digest.hexdigest())


# --- Stored files: removed when nothing references them ------------------------------------------

RECEIPTS_DIR = "receipts"


def receipt_storage():
    from .models import Expense

    return Expense, Expense._meta.get_field("receipt").storage


def remove_receipt_file_after_commit(name: str) -> None:
    """Once the surrounding transaction commits, delete the stored file ``name`` unless an
    expense still references it (a replaced or cleared receipt). Nothing is deleted on
    rollback: the old receipt is then still the expense's."""
    if name:
        send_on_commit(_remove_unreferenced_rollback_unsafe, name)


def _remove_unreferenced_rollback_unsafe(name: str) -> None:
    expense_model, storage = receipt_storage()
    if not expense_model.objects.filter(receipt=name).exists():
        storage.delete(name)


def orphaned_receipt_files(*, older_than: dt.timedelta) -> list[str]:
    """Stored receipt files no expense references, last modified more than ``older_than`` ago
    (younger ones may belong to a transaction that has not committed yet)."""
    expense_model, storage = receipt_storage()
    if not storage.exists(RECEIPTS_DIR):
        return []
    referenced = set(expense_model.objects.exclude(receipt="").values_list("receipt", flat=True))
    cutoff = timezone.now() - older_than
    orphans = []
    folders, _ = storage.listdir(RECEIPTS_DIR)
    for folder in folders:
        for name in storage.listdir(posixpath.join(RECEIPTS_DIR, folder))[1]:
            path = posixpath.join(RECEIPTS_DIR, folder, name)
            if path not in referenced and storage.get_modified_time(path) < cutoff:
                orphans.append(path)
    return sorted(orphans)
