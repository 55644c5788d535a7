"""Receipt uploads over HTTP: size limit, type by content, generated names, path tricks
neutralised, and served as an attachment the browser will not sniff or run."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from expenses.models import Expense
from expenses.tests.factories import PNG, make_team, receipt_file

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HTML = b"<!doctype html><html><script>fetch('/api/v1/expenses/').then(r=>r.text()).then(alert)</script></html>"
STORED = re.compile(r"^receipts/\d+/[0-9a-f]{32}\.(png|pdf|jpg|webp)$")


@pytest.fixture
def team():
    return make_team()


def upload(team, draft, name, content):
    client = APIClient()
    client.force_authenticate(team.employee.user)
    return client.post(f"/api/v1/expenses/{draft.pk}/receipt/", {"receipt": receipt_file(name, content)},
                       format="multipart")


def raw_upload(team, draft, filename: str, content: bytes):
    """A multipart body written by hand: the test client would strip the directories itself."""
    boundary = "outlay-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="receipt"; filename="{filename}"\r\n'
            f"Content-Type: image/png\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    client = APIClient()
    client.force_authenticate(team.employee.user)
    return client.generic("POST", f"/api/v1/expenses/{draft.pk}/receipt/", body,
                          content_type=f"multipart/form-data; boundary={boundary}")


def stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize(("name", "content", "code"), [
    pytest.param("receipt.png", HTML, "invalid_receipt", id="HTML named .png"),
    pytest.param("receipt.png", PDF, "invalid_receipt", id="a PDF named .png"),
    pytest.param("receipt.pdf", PNG, "invalid_receipt", id="a PNG named .pdf"),
    pytest.param("receipt.html", PNG, "invalid_receipt", id="a PNG named .html (a polyglot's name)"),
    pytest.param("receipt.svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "invalid_receipt",
                 id="SVG (script inside)"),
    pytest.param("receipt.png", b"", "invalid", id="empty (refused by the input serializer already)"),
])
def test_an_upload_whose_content_is_not_what_a_receipt_must_be_is_refused(team, name, content, code):
    draft = team.expense(receipt=False)

    response = upload(team, draft, name, content)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not Expense.objects.get(pk=draft.pk).receipt
    assert stored_files() == []


def test_a_pdf_and_a_png_named_for_what_they_are_are_accepted_and_typed_by_content(team):
    draft = team.expense(receipt=False)
    assert upload(team, draft, "taxi.pdf", PDF).status_code == 200
    assert Expense.objects.get(pk=draft.pk).receipt_content_type == "application/pdf"
    assert upload(team, draft, "scan", PNG).status_code == 200  # no extension: the content decides
    assert Expense.objects.get(pk=draft.pk).receipt_content_type == "image/png"


def test_an_upload_over_the_size_limit_is_refused_and_nothing_is_stored(team, settings):
    settings.EXPENSE_RECEIPT_MAX_BYTES = 1024 * 1024
    draft = team.expense(receipt=False)

    too_big = upload(team, draft, "big.png", PNG + b"\x00" * (1024 * 1024))
    at_limit = upload(team, draft, "ok.png", PNG + b"\x00" * (1024 * 1024 - len(PNG)))

    assert too_big.status_code == 400 and too_big.json()["code"] == "invalid_receipt"
    assert "larger than 1 MB" in too_big.json()["message"]
    assert at_limit.status_code == 200
    assert len(stored_files()) == 1


@pytest.mark.parametrize("filename", ["../../../../outlay-escape.png", "/tmp/outlay-escape.png",
                                      "..\\..\\outlay-escape.png", "receipts/1/../../../outlay-escape.png"])
def test_path_tricks_in_the_file_name_never_reach_the_disk(team, filename):
    draft = team.expense(receipt=False)
    marker = uuid.uuid4().hex
    filename = filename.replace("outlay-escape", f"outlay-escape-{marker}")

    response = raw_upload(team, draft, filename, PNG)

    assert response.status_code == 200, response.content
    stored = Expense.objects.get(pk=draft.pk).receipt.name
    assert STORED.match(stored), stored
    assert stored.split("/")[1] == str(team.org.pk)
    media = Path(settings.MEDIA_ROOT).resolve()
    assert [p.resolve().relative_to(media).as_posix() for p in stored_files()] == [stored]
    for candidate in (Path("/tmp"), media.parent, media.parent.parent, Path.cwd()):
        assert not list(candidate.glob(f"*{marker}*")), candidate


@pytest.mark.parametrize(("content", "content_type", "extension"), [(PNG, "image/png", "png"),
                                                                    (PDF, "application/pdf", "pdf")])
def test_a_receipt_is_served_as_an_attachment_that_is_never_sniffed_or_run(team, content, content_type, extension):
    draft = team.expense(receipt=False)
    assert upload(team, draft, f"r.{extension}", content).status_code == 200
    client = Client()
    client.force_login(team.employee.user)  # a draft's receipt: only its employee and admins (issue 17)

    response = client.get(reverse("expense-receipt", kwargs={"expense_id": draft.pk}))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="receipt-{draft.pk}.{extension}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
